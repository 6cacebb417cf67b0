#!/bin/sh
# examples/counters: 3 nodes over loopback join through a seed; every
# node adds 1, 2 and 3 to each of 12 counters by key, so each totals 6
# only if every key had one activation in the whole cluster, and the
# activations on the 3 nodes add up to 12.
echo "1..2"
err=$(mktemp)
out=$(./examples/counters 2>"$err")
rc=$?
sixes=$(printf '%s\n' "$out" | grep -c '^[a-z]* *6$')
if [ "$rc" -eq 0 ] && [ "$sixes" -eq 12 ]; then
	echo "ok 1 - every counter totals 6"
else
	echo "not ok 1 - every counter totals 6 (exit $rc, $sixes of 12)"
	printf '%s\n' "$out" | sed 's/^/# /'
	tail -n 20 "$err" | sed 's/^/# stderr: /'
fi
rm -f "$err"
acts=$(printf '%s\n' "$out" | sed -n 's/^node n[0-9]: \([0-9]*\) activations$/\1/p' |
	awk '{ s += $1 } END { print s + 0 }')
if [ "$acts" -eq 12 ]; then
	echo "ok 2 - 12 activations in the cluster"
else
	echo "not ok 2 - 12 activations in the cluster ($acts)"
fi
