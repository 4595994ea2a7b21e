#!/bin/sh
# Generates ./configure from a git checkout (release tarballs ship it).
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf --install --force
# cmocka speaks TAP; automake's TAP driver counts each test case.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/
