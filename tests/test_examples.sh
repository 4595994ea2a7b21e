#!/bin/sh
# The event-loop examples stay working and documented: docs/ASYNC.md's
# complete libuv program is examples/uv_sessions.c byte for byte; each
# example (libuv, libevent) runs its whole script on LMDB, on memory: and
# on a private redis-server, every callback run and the loop's timer
# ticking throughout; both build against the installed headers with
# nothing but pkg-config; and the adapters' headers compile as C++ too
# (they say extern "C"). An example configure did not build is skipped.
# TAP output.
set -u
# The drivers of this build, before install_tree.sh unsets the path.
build_driver_path=${OBOL_DRIVER_PATH:-$OBOL_TEST_BUILDDIR/drivers/.libs}
. "${srcdir:-.}/tests/install_tree.sh" # sets work and bail
redis_pid=
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..9"
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
skip() {
    number=$((number + 1))
    echo "ok $number - $1 # SKIP $2"
}

# ------------------------------------------------ the document's example
# The C block after the marker line of docs/ASYNC.md, as
# tests/local.mk extracts docs/STATS.md's.
awk '/tests\/test_examples.sh checks that the next C block/ { armed = 1; next }
     armed && /^```c$/ { on = 1; armed = 0; next }
     on && /^```$/ { exit } on { print }' "$top_srcdir/docs/ASYNC.md" >"$work/doc_example.c"
if [ -s "$work/doc_example.c" ] &&
    diff -u "$top_srcdir/examples/uv_sessions.c" "$work/doc_example.c" >"$work/doc.diff"; then
    report 0 "docs/ASYNC.md's libuv program is examples/uv_sessions.c"
else
    [ -s "$work/doc_example.c" ] || echo "no C block after the marker line" >"$work/doc.diff"
    report 1 "docs/ASYNC.md's libuv program is examples/uv_sessions.c" "$work/doc.diff"
fi

# ------------------------------------------------------ a private Redis
redis_url=
server=${REDIS_SERVER:-$(command -v redis-server || true)}
if [ -n "$server" ]; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$work" --logfile "$work/redis.log" --daemonize no &
    redis_pid=$!
    tries=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -gt 100 ] && bail "redis-server did not start"
        sleep 0.1
    done
    redis_url="redis://127.0.0.1:$port/0?prefix=examples"
fi

# ------------------------------------------------------------- the runs
# run NAME CONFIG: the example's whole script on CONFIG; every operation
# submitted has had its callback, the steps said what they should, and
# the timer ticked at each of the six steps and at the end.
run() {
    out="$work/$1.$number.out"
    OBOL_DRIVER_PATH=$build_driver_path \
        timeout 60 "$OBOL_TEST_BUILDDIR/examples/$1" "$2" >"$out" 2>&1 &&
        grep -q '^19 operations submitted, 19 callbacks run' "$out" &&
        grep -q 'read back  car    payload "car"' "$out" &&
        grep -q 'listed     3 live session(s): ' "$out" &&
        grep -q 'logged out everywhere (3 records)' "$out" &&
        ticks=$(sed -n 's/.* ticked \([0-9]*\) times.*/\1/p' "$out") &&
        [ "${ticks:-0}" -ge 7 ]
    report $? "$1 on $(echo "$2" | sed 's/:.*//')" "$out"
}

for example in uv_sessions event_sessions; do
    case $example in
    uv_sessions) have=${OBOL_HAVE_LIBUV:-no} library=libuv ;;
    *) have=${OBOL_HAVE_LIBEVENT:-no} library=libevent ;;
    esac
    if [ "$have" != yes ]; then
        for store in lmdb memory redis; do
            skip "$example on $store" "configure found no $library"
        done
        continue
    fi
    run $example "lmdb://$work/$example-lmdb"
    run $example "memory:"
    if [ -n "$redis_url" ]; then
        run $example "$redis_url"
    else
        skip "$example on redis" "redis-server not found"
    fi
done

# ------------------------------------------ against the installed headers
# What an application does: only `pkg-config --cflags --libs obol libuv`.
built=0
tried=
for example in uv_sessions event_sessions; do
    case $example in
    uv_sessions) have=${OBOL_HAVE_LIBUV:-no} module=libuv ;;
    *) have=${OBOL_HAVE_LIBEVENT:-no} module=libevent ;;
    esac
    [ "$have" = yes ] || continue
    tried="$tried $example"
    # shellcheck disable=SC2046 # pkg-config output is meant to split
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$work/$example" \
        "$top_srcdir/examples/$example.c" $(pkg-config --cflags --libs obol $module) \
        >"$work/cc-$example.log" 2>&1 || { built=1; cat "$work/cc-$example.log" >>"$work/cc.log"; }
done
if [ -z "$tried" ]; then
    skip "the examples build against the installed headers" "configure found neither library"
else
    report $built "the examples build against the installed headers:$tried" "$work/cc.log"
fi

# The headers a C++ server includes.
cxx=${CXX:-$(command -v c++ || true)}
if [ -z "$cxx" ]; then
    skip "the installed adapters compile as C++" "no C++ compiler"
elif [ "${OBOL_HAVE_LIBUV:-no}" != yes ] || [ "${OBOL_HAVE_LIBEVENT:-no}" != yes ]; then
    skip "the installed adapters compile as C++" "configure did not find both libraries"
else
    printf '#include <obol/uv.h>\n#include <obol/event.h>\nint main() { return 0; }\n' >"$work/both.cc"
    # shellcheck disable=SC2046 # pkg-config output is meant to split
    "$cxx" -Wall -Wextra -Werror -fsyntax-only "$work/both.cc" \
        $(pkg-config --cflags obol libuv libevent) >"$work/cxx.log" 2>&1
    report $? "the installed adapters compile as C++" "$work/cxx.log"
fi
