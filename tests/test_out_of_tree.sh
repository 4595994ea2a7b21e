#!/bin/sh
# Drivers built outside this tree: installs obol into a temporary DESTDIR,
# then builds, each in a directory of its own with nothing but the
# installed headers (`pkg-config --cflags obol`), the installed driver
# template (`pkg-config --variable=driver_template obol`) and the memory
# driver's source, loads each from obol-driver-check's --driver-path and
# runs the installed conformance suite on it. TAP output.
set -u
. "${srcdir:-.}/tests/install_tree.sh"

echo "1..8"
number=0
report() {
    number=$((number + 1))
    if [ "$1" = 0 ]; then
        echo "ok $number - $2"
    else
        echo "not ok $number - $2"
        [ $# -ge 3 ] && [ -f "$3" ] && tail -n 30 "$3" | sed 's/^/# /'
    fi
}

# build NAME SOURCE: builds SOURCE as $work/NAME/lib/NAME.so, as
# docs/DRIVERS.md says to.
build() {
    mkdir -p "$work/$1/src" "$work/$1/lib"
    cp "$2" "$work/$1/src/$1.c"
    # shellcheck disable=SC2046 # pkg-config output is meant to split
    (cd "$work/$1/src" &&
        ${CC:-cc} -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
            $(pkg-config --cflags obol) -o "$work/$1/lib/$1.so" "$1.c" \
            -lpthread) >"$work/$1/cc.log" 2>&1
}

# exports_only NAME: the driver exports its entry function and nothing else.
exports_only() {
    exports=$(nm -D --defined-only "$work/$1/lib/$1.so" 2>/dev/null |
        awk '$2 == "T" { print $3 }')
    [ "$exports" = "obol_driver_$1_entry" ]
}

# passes NAME URL: the installed obol-driver-check passes it.
passes() {
    CMOCKA_MESSAGE_OUTPUT=STDOUT LD_LIBRARY_PATH="$libdir" \
        "$bindir/obol-driver-check" --driver-path "$work/$1/lib" "$2" \
        >"$work/$1/check.log" 2>&1
    status=$?
    summary=$(tail -n 1 "$work/$1/check.log")
    [ "$status" = 0 ] && grep -q "^[0-9]* passed, 0 failed$" "$work/$1/check.log"
}

build memory "$top_srcdir/drivers/memory/memory_driver.c"
report $? "the memory driver builds against the installed headers alone" "$work/memory/cc.log"
exports_only memory
report $? "it exports its entry function and nothing else (got: $exports)"
passes memory "memory:conformance"
report $? "the installed obol-driver-check passes it: $summary" "$work/memory/check.log"

template=$(in_root "$(pkg-config --variable=driver_template obol)")
lines=$(wc -l <"$template" 2>/dev/null || echo none)
[ -f "$template" ] && [ "$lines" -lt 300 ]
report $? "the driver template is installed, $lines lines, under 300: $template"
build mine "$template"
report $? "the template builds against the installed headers alone" "$work/mine/cc.log"
exports_only mine
report $? "it exports obol_driver_mine_entry and nothing else (got: $exports)"
passes mine "mine:"
report $? "the installed obol-driver-check passes it as it is: $summary" "$work/mine/check.log"

mandir=$(in_root "$(pkg-config --variable=prefix obol)")/share/man
missing=""
for page in man1/obol.1 man1/obol-driver-check.1 man5/obol-config.5; do
    [ -f "$mandir/$page" ] || missing="$missing $page"
done
[ -z "$missing" ]
report $? "the man pages are installed in $mandir${missing:+ (missing:$missing)}"
