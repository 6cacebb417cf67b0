#!/bin/sh
# The shared library exports the public API and nothing else.
lib=.libs/libactor.so
echo "1..1"
if [ ! -f "$lib" ]; then
	echo "ok 1 - exports # SKIP no shared library was built"
	exit 0
fi
bad=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | sed 's/@.*//' | grep -v '^actor_')
if [ -z "$bad" ]; then
	echo "ok 1 - libactor.so exports only actor_* symbols"
else
	echo "not ok 1 - libactor.so exports symbols outside the API"
	echo "$bad" | sed 's/^/# /'
	exit 1
fi
