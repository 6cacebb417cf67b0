#!/bin/sh
# Every public header compiles on its own as C11 and as C++11, pedantic and
# warning-free, and so do the inline functions and macros a program uses.
# CC, CXX and MSGPACK_CFLAGS (<actor/msgpack.h> includes <msgpack.h>) come
# from configure; without a C++ compiler the test skips (a TAP plan of 0).
: "${srcdir:=.}"
inc="$srcdir/include"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ -z "$CXX" ] || [ "$CXX" = none ]; then
	echo "1..0 # SKIP no C++ compiler (configure found none)"
	exit 0	# the TAP driver reads the plan; a status of 77 would be an error there
fi

# What a program does with the header-only parts of the API.
cat >"$tmp/use.inc" <<'USE'
static int use(void)
{
	actor_ref_t none = ACTOR_REF_NONE;
	actor_ref_t name_service = actor_node_ref(7);
	actor_timer_t timer = { 0 };

	return actor_ref_is_none(none) && !actor_ref_equal(none, name_service) &&
	       timer.id == 0 && ACTOR_VERSION_HEX != 0;
}
int main(void) { return use() ? 0 : 1; }
USE

set -- "$inc"/actor/*.h
echo "1..$(($# * 2 + 2))"
n=0
status=0
check() {	# check LANG COMPILER FLAGS... -- FILE DESCRIPTION
	n=$((n + 1))
	desc=$1
	shift
	if out=$("$@" 2>&1); then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		printf '%s\n' "$out" | sed 's/^/# /'
		status=1
	fi
}
CFLAGS_C="-std=c11 -Wall -Wextra -pedantic -Werror -I$inc $MSGPACK_CFLAGS -fsyntax-only"
CFLAGS_CXX="-std=c++11 -Wall -Wextra -pedantic -Werror -I$inc $MSGPACK_CFLAGS -fsyntax-only"
for h in "$@"; do
	name=actor/$(basename "$h")
	printf '#include <%s>\n' "$name" >"$tmp/one.c"
	cp "$tmp/one.c" "$tmp/one.cc"
	check "<$name> as C11" $CC $CFLAGS_C "$tmp/one.c"
	check "<$name> as C++11" $CXX $CFLAGS_CXX "$tmp/one.cc"
done
printf '#include <actor/actor.h>\n#include "use.inc"\n' >"$tmp/use.c"
cp "$tmp/use.c" "$tmp/use.cc"
check "inline functions and macros as C11" $CC $CFLAGS_C "$tmp/use.c"
check "inline functions and macros as C++11" $CXX $CFLAGS_CXX "$tmp/use.cc"
exit $status
