#!/bin/sh
# Installs this build into a temporary DESTDIR, builds tests/installed_api.c
# with nothing but `pkg-config --cflags --libs obol` against the installed
# files, and runs it on an LMDB store with the installed driver. TAP output.
set -u
: "${OBOL_TEST_BUILDDIR:?run through make check}"
srcdir=${srcdir:-.}
top_srcdir=$(cd "$srcdir" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/obol-installed.XXXXXX")
trap 'rm -rf "$work"' EXIT

bail() {
    echo "Bail out! $1"
    exit 1
}

${MAKE:-make} -s -C "$OBOL_TEST_BUILDDIR" install DESTDIR="$work/root" \
    >"$work/install.log" 2>&1 || { cat "$work/install.log"; bail "make install failed"; }

pcfile=$(find "$work/root" -name obol.pc | head -n 1)
[ -n "$pcfile" ] || bail "obol.pc was not installed"
export PKG_CONFIG_PATH="$(dirname "$pcfile")"
export PKG_CONFIG_SYSROOT_DIR="$work/root"
# pkgconf puts the sysroot in front of variables itself; older pkg-config
# does not.
in_root() {
    case "$1" in
    "$work/root"/*) echo "$1" ;;
    *) echo "$work/root$1" ;;
    esac
}
driverdir=$(in_root "$(pkg-config --variable=driverdir obol)")
libdir=$(in_root "$(pkg-config --variable=libdir obol)")
[ -f "$driverdir/lmdb.so" ] || bail "lmdb.so is not in the installed driver directory"

# shellcheck disable=SC2046 # pkg-config output is meant to split
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$work/installed_api" \
    "$top_srcdir/tests/installed_api.c" $(pkg-config --cflags --libs obol) \
    >"$work/cc.log" 2>&1 || { cat "$work/cc.log"; bail "cannot build against the installed headers"; }

mkdir "$work/store"
unset OBOL_DRIVER_PATH
LD_LIBRARY_PATH="$libdir" "$work/installed_api" \
    "lmdb://$work/store?driver_path=$driverdir"
