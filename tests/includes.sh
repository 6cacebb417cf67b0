#!/bin/sh
# The include graph of the library folders (docs/architecture.md, "Layers").
# Every #include in util/, mailbox/, sched/, transport/, cluster/, api/ and
# store/ must follow it:
#
#   api/        may include                                util/  <actor/...>
#   store/      may include                                util/  <actor/...>
#   cluster/    may include  transport/  sched/  mailbox/  util/  <actor/...>
#                            store/
#   transport/  may include                      mailbox/  util/
#   sched/      may include                      mailbox/  util/  <actor/...>
#   mailbox/    may include                                util/
#   util/       may include  nothing of the project's but itself
#
# Each folder may also include its own headers, config.h and system headers.
# transport/ and sched/ sit side by side above mailbox/, not one on the
# other: transport/ moves frames and knows nothing about actors, so it
# includes neither sched/ nor the public API (<actor/...>). And a folder's
# internal.h is private to that folder. api/ holds library code written on
# the public API alone (the supervisor): no layer's internals.
#
# An include that breaks these rules fails this test unless it is in the
# allow-list below; an allow-list entry that no longer occurs fails it too,
# so that the list shrinks as the code moves.
top=${srcdir:-$(dirname "$0")/..}
layers="util mailbox sched transport cluster api store"

# Known violations, "including file  included path", one per line; none
# since issue 13 ("Structure before the cluster grows"). Take an entry out
# in the commit that fixes it.
allow='
'

may_include() {
	case $1 in
	cluster) echo "cluster transport sched mailbox util actor store" ;;
	transport) echo "transport mailbox util" ;;
	sched) echo "sched mailbox util actor" ;;
	mailbox) echo "mailbox util" ;;
	util) echo "util" ;;
	api) echo "api util actor" ;;
	store) echo "store util actor" ;;
	esac
}

files=
for d in $layers; do
	for f in "$top/$d"/*.c "$top/$d"/*.h; do
		[ -f "$f" ] && files="$files $f"
	done
done
if [ -z "$files" ]; then
	echo "1..0 # SKIP no sources under $top"
	exit 0
fi

# "file line path system" for every #include, file relative to $top.
list=$(awk -v top="$top/" '
	FNR == 1 { name = FILENAME; if (index(name, top) == 1) name = substr(name, length(top) + 1) }
	/^[ \t]*#[ \t]*include[ \t]*[<"]/ {
		s = $0
		sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
		sys = substr(s, 1, 1) == "<"
		s = substr(s, 2)
		sub(/[>"].*/, "", s)
		print name, FNR, s, sys
	}' $files)

bad=
seen=
nl='
'
while read -r file line path sys; do
	[ -n "$file" ] || continue
	from=${file%%/*}
	case $path in
	actor/*) to=actor ;;
	config.h) continue ;;
	*/*) [ "$sys" = 1 ] && continue; to=${path%%/*} ;;
	*) [ "$sys" = 1 ] && continue; to=$from ;;	# beside the including file
	esac
	why=
	case " $(may_include "$from") " in
	*" $to "*) ;;
	*) why="$from/ may not include $to/" ;;
	esac
	[ "$to" = actor ] && [ -n "$why" ] && why="$from/ may not include the public API"
	case $path in
	*/internal.h) [ -z "$why" ] && [ "$to" != "$from" ] && why="$path is private to $to/" ;;
	esac
	[ -n "$why" ] || continue
	case "$allow" in
	*"$nl$file $path$nl"*) seen="$seen$nl$file $path$nl"; continue ;;
	esac
	bad="$bad# $file:$line: #include $path: $why$nl"
done <<EOF
$list
EOF

stale=
while read -r file path; do
	[ -n "$file" ] || continue
	case "$seen" in
	*"$nl$file $path$nl"*) ;;
	*) stale="$stale# $file no longer includes $path: take it out of the allow-list$nl" ;;
	esac
done <<EOF
$allow
EOF

status=0
echo "1..2"
if [ -z "$bad" ]; then
	echo "ok 1 - the library folders include only what the layer graph allows"
else
	echo "not ok 1 - includes against the layer graph (tests/includes.sh, docs/architecture.md)"
	printf '%s' "$bad"
	status=1
fi
if [ -z "$stale" ]; then
	echo "ok 2 - every allow-listed include still exists"
else
	echo "not ok 2 - the allow-list names includes that are gone"
	printf '%s' "$stale"
	status=1
fi
exit $status
