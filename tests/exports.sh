#!/bin/sh
# The shared library exports the public API and nothing else: exactly the
# functions the public headers declare with ACTOR_API (version nodes such as
# actor_0, absolute symbols, are not functions).
: "${srcdir:=.}"
lib=.libs/libactor.so
echo "1..2"
if [ ! -f "$lib" ]; then
	echo "ok 1 - exports # SKIP no shared library was built"
	echo "ok 2 - exports # SKIP no shared library was built"
	exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$(NF - 1) != "A" { print $NF }' | sed 's/@.*//' | sort -u >"$tmp/exported"
# "ACTOR_API type *name(" may wrap after the name's line starts; names only.
sed -n 's/^ACTOR_API [^(]*[ *]\(actor_[a-z0-9_]*\)(.*/\1/p' "$srcdir"/include/actor/*.h |
	sort -u >"$tmp/declared"
status=0
bad=$(grep -v '^actor_' "$tmp/exported")
if [ -z "$bad" ]; then
	echo "ok 1 - libactor.so exports only actor_* symbols"
else
	echo "not ok 1 - libactor.so exports symbols outside the API"
	echo "$bad" | sed 's/^/# /'
	status=1
fi
diff=$(comm -3 "$tmp/declared" "$tmp/exported")
if [ -z "$diff" ]; then
	echo "ok 2 - libactor.so exports exactly the ACTOR_API functions of the headers"
else
	echo "not ok 2 - exported and declared differ (left: declared only, right: exported only)"
	echo "$diff" | sed 's/^/# /'
	status=1
fi
exit $status
