#!/bin/sh
# The installed man pages: each renders without a warning (groff -ww), and
# obol-config(5) lists exactly the options the code accepts, section by
# section, read from the option tables of lib/config.c and of each driver.
# TAP output.
set -u
top_srcdir=$(cd "${srcdir:-.}" && pwd)
config5="$top_srcdir/man/obol-config.5"

echo "1..6"
number=0
report() {
    number=$((number + 1))
    if [ "$1" = 0 ]; then
        echo "ok $number - $2"
    else
        echo "not ok $number - $2"
        [ $# -ge 3 ] && [ -n "$3" ] && printf '%s\n' "$3" | sed 's/^/# /'
    fi
}

if command -v groff >/dev/null 2>&1; then
    warnings=$(for page in "$top_srcdir/tools/obol/obol.1" \
        "$top_srcdir/tools/obol-driver-check.1" "$config5"; do
        groff -man -ww -z "$page" 2>&1 | sed "s|^|$(basename "$page"): |"
    done)
    [ -z "$warnings" ]
    report $? "obol(1), obol-driver-check(1) and obol-config(5) render without warnings" "$warnings"
else
    number=$((number + 1))
    echo "ok $number # SKIP groff is not installed"
fi

# The options documented in the man page section called $1: each entry is
# ".TP" and then ".B name", ".BI name= VALUE" or ".BR name= a | b".
page_options() {
    awk -v section="$1" '
        /^\.SH / { here = ($0 == ".SH " section); next }
        here && /^\.TP/ { entry = 1; next }
        here && entry && /^\.B[IR]? / { name = $2; sub(/=.*/, "", name); print name }
        { entry = 0 }' "$config5" | sort -u
}

# The quoted names of the table that starts at the line matching $2 in
# file $1 and ends at the first "};".
table_options() {
    sed -n "/$2/,/};/p" "$top_srcdir/$1" | grep -o '{ "[a-z_]*"' |
        sed 's/{ "//; s/"//' | sort -u
}

# same_options WHAT PAGE-SECTION CODE-LIST
same_options() {
    listed=$(page_options "$2")
    if [ -n "$3" ] && [ "$listed" = "$3" ]; then
        report 0 "obol-config(5) $2 are what $1 accepts: $(echo $3)"
    else
        report 1 "obol-config(5) $2 are what $1 accepts" \
            "$(printf 'man page: %s\ncode:     %s' "$(echo $listed)" "$(echo $3)")"
    fi
}

same_options lib/config.c "CORE OPTIONS" \
    "$(table_options lib/config.c 'core_options\[\] = {')"
same_options "the lmdb driver" "LMDB OPTIONS" \
    "$(table_options drivers/lmdb/lmdb_options.c 'known_options\[\] = {')"
same_options "the redis driver" "REDIS OPTIONS" \
    "$(table_options drivers/redis/redis_config.c 'known\[\] = {')"
same_options "the memory driver" "MEMORY OPTIONS" \
    "$(grep -o 'strcmp(option->key, "[a-z_]*")' \
        "$top_srcdir/drivers/memory/memory_driver.c" |
        sed 's/.*"\([a-z_]*\)".*/\1/' | sort -u)"

grep -q '^\.BR obol\\-config (5)' "$top_srcdir/tools/obol/obol.1" &&
    ! grep -q 'docs/CONFIG.md' "$top_srcdir/tools/obol/obol.1"
report $? "obol(1) points to obol-config(5), not to a file that is not installed"
