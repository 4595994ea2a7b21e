#!/bin/sh
# Installs this build into a temporary DESTDIR, builds tests/installed_api.c
# with nothing but `pkg-config --cflags --libs obol` against the installed
# files, and runs it on an LMDB store with the installed driver, named with
# obol_set_driver_path(). TAP output.
set -u
. "${srcdir:-.}/tests/install_tree.sh"

[ -f "$driverdir/lmdb.so" ] || bail "lmdb.so is not in the installed driver directory"

# shellcheck disable=SC2046 # pkg-config output is meant to split
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$work/installed_api" \
    "$top_srcdir/tests/installed_api.c" $(pkg-config --cflags --libs obol) \
    >"$work/cc.log" 2>&1 || { cat "$work/cc.log"; bail "cannot build against the installed headers"; }

mkdir "$work/store"
LD_LIBRARY_PATH="$libdir" "$work/installed_api" "lmdb://$work/store" "$driverdir"
