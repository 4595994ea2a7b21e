#!/bin/sh
# A driver built outside this tree: installs obol into a temporary DESTDIR,
# builds the memory driver's source in a directory of its own with nothing
# but the installed headers (`pkg-config --cflags obol`), loads it from
# obol-driver-check's --driver-path and runs the installed conformance suite
# on it. TAP output.
set -u
. "${srcdir:-.}/tests/install_tree.sh"

echo "1..3"
mkdir "$work/driver" "$work/lib"
cp "$top_srcdir/drivers/memory/memory_driver.c" "$work/driver/"
# shellcheck disable=SC2046 # pkg-config output is meant to split
if (cd "$work/driver" &&
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
        $(pkg-config --cflags obol) -o "$work/lib/memory.so" memory_driver.c \
        -lpthread) >"$work/cc.log" 2>&1; then
    echo "ok 1 - a driver builds against the installed headers alone"
else
    sed 's/^/# /' "$work/cc.log"
    echo "not ok 1 - a driver builds against the installed headers alone"
fi

exports=$(nm -D --defined-only "$work/lib/memory.so" 2>/dev/null | awk '$2 == "T" { print $3 }')
if [ "$exports" = obol_driver_memory_entry ]; then
    echo "ok 2 - it exports its entry function and nothing else"
else
    echo "not ok 2 - it exports its entry function and nothing else (got: $exports)"
fi

check="$bindir/obol-driver-check"
CMOCKA_MESSAGE_OUTPUT=STDOUT LD_LIBRARY_PATH="$libdir" \
    "$check" --driver-path "$work/lib" "memory:conformance" >"$work/check.log" 2>&1
status=$?
summary=$(tail -n 1 "$work/check.log")
if [ "$status" = 0 ] && grep -q "^[0-9]* passed, 0 failed$" "$work/check.log"; then
    echo "ok 3 - the installed obol-driver-check passes it: $summary"
else
    sed 's/^/# /' "$work/check.log"
    echo "not ok 3 - the installed obol-driver-check passes it: $summary"
fi
