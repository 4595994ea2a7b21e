#!/bin/sh
# Sets obol up on a Debian 12 machine and runs it:
#
#   ./setup.sh demo   install what is missing, build, run the demo on LMDB
#   ./setup.sh test   install what is missing, build with warnings as
#                     errors, run every test and `make distcheck`
#
# Packages are installed with apt-get (as root, or through sudo). The last
# line of `test` is "N passed, N failed"; its exit status is non-zero when
# anything failed.
set -eu

mode=${1:-}
case "$mode" in
demo | test) ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")"

build_packages="build-essential autoconf automake libtool pkg-config
    libsodium-dev liblmdb-dev libhiredis-dev liburiparser-dev libcmocka-dev
    libjansson-dev libssl-dev"
# openssl: the command the TLS tests make their certificates with;
# tmux: the terminal tests/test_progress.sh draws the progress bar in;
# groff-base: the man pages are rendered with warnings on;
# libuv1-dev, libevent-dev: the example programs of the event-loop adapters
# (include/obol/uv.h, event.h), which make check runs
test_packages="redis-server valgrind python3 openssl tmux groff-base
    libuv1-dev libevent-dev"

install_packages() {
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    # shellcheck disable=SC2086 # the lists are meant to split into words
    $sudo apt-get install -y -q --no-install-recommends "$@"
}

build() {
    ./autogen.sh
    ./configure "$@"
    make -j"$(nproc)"
}

# Counts the test cases automake recorded and prints the closing line.
report() {
    distcheck_failed=$1
    passed=$(sed -n 's/^# PASS: *//p' test-suite.log | head -n 1)
    failed=0
    for kind in FAIL XPASS ERROR; do
        n=$(sed -n "s/^# $kind: *//p" test-suite.log | head -n 1)
        failed=$((failed + ${n:-0}))
    done
    passed=${passed:-0}
    if [ "$distcheck_failed" = 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
    skipped=$(sed -n 's/^# SKIP: *//p' test-suite.log | head -n 1)
    if [ "${skipped:-0}" != 0 ]; then
        echo "${passed} passed, ${failed} failed, ${skipped} skipped"
    else
        echo "${passed} passed, ${failed} failed"
    fi
    [ "$failed" = 0 ]
}

if [ "$mode" = demo ]; then
    # shellcheck disable=SC2086
    install_packages $build_packages
    build
    make demo
    exit 0
fi

# shellcheck disable=SC2086
install_packages $build_packages $test_packages
build --enable-werror
check_failed=0
make -j"$(nproc)" check || check_failed=1
if [ ! -f test-suite.log ]; then
    echo "make check did not run (see above)"
    echo "0 passed, 1 failed"
    exit 1
fi
distcheck_failed=0
if [ "$check_failed" = 0 ]; then
    make -j"$(nproc)" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror || distcheck_failed=1
else
    cat test-suite.log
    distcheck_failed=1
fi
report "$distcheck_failed"
