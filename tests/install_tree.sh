# Sourced by the tests that use an installed obol: installs this build into
# a temporary DESTDIR and points pkg-config at it. Sets:
#   work       a temporary directory, removed on exit
#   driverdir  the installed driver directory
#   libdir     the installed library directory
#   bindir     the installed program directory
# and exports PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR.
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
PKG_CONFIG_PATH=$(dirname "$pcfile")
PKG_CONFIG_SYSROOT_DIR="$work/root"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

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
bindir=$(in_root "$(pkg-config --variable=exec_prefix obol)/bin")
unset OBOL_DRIVER_PATH
