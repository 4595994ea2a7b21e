#!/bin/sh
# obol-driver-check catches what it is for: drivers with one planted bug
# each (tests/fake_drivers/plant*.c) fail, naming the case, within the time
# limit; a URL that cannot work is one usage error before any case; and
# every record a run writes is deleted, failed cases included. TAP output.
set -u
: "${OBOL_TEST_BUILDDIR:?run through make check}"
check="$OBOL_TEST_BUILDDIR/tools/obol-driver-check"
plants="$OBOL_TEST_BUILDDIR/tests/fake_drivers/.libs"
records="$OBOL_TEST_BUILDDIR/tests/lmdb_records"
work=$(mktemp -d "${TMPDIR:-/tmp}/obol-driver-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
CMOCKA_MESSAGE_OUTPUT=TAP
export CMOCKA_MESSAGE_OUTPUT

echo "1..12"
number=0
# report OK DESCRIPTION [LOG]: one TAP line; the log's end as comments on
# failure.
report() {
    number=$((number + 1))
    if [ "$1" = 0 ]; then
        echo "ok $number - $2"
    else
        echo "not ok $number - $2"
        [ $# -ge 3 ] && [ -f "$3" ] && tail -n 30 "$3" | sed 's/^/# /'
    fi
}

# --- prune() removing a record that expires now (over LMDB)
mkdir "$work/prune"
"$check" --driver-path "$plants" --timeout 30 "plantprune://$work/prune?sync=off" \
    >"$work/prune.log" 2>&1
status=$?
[ "$status" = 1 ]
report $? "a prune that removes expires_at == now fails the run (exit $status)" "$work/prune.log"
grep -q '^not ok [0-9]* - prune_keeps_a_record_that_expires_now$' "$work/prune.log" &&
    grep -q 'removed a record whose expires_at is now' "$work/prune.log"
report $? "it fails prune_keeps_a_record_that_expires_now, saying why" "$work/prune.log"
grep '^not ok' "$work/prune.log" | sed 's/^/# failed: /'
left=$("$records" "$work/prune" 2>&1)
[ "$left" = "sessions 0 expiry 0" ]
report $? "every record the run wrote is deleted, failed cases' too ($left)"

# --- view() showing a record where get() finds none (over LMDB)
mkdir "$work/view"
"$check" --driver-path "$plants" --timeout 30 "plantview://$work/view?sync=off" \
    >"$work/view.log" 2>&1
status=$?
[ "$status" = 1 ]
report $? "a view that shows a missing record fails the run (exit $status)" "$work/view.log"
grep -q '^not ok [0-9]* - put_with_a_lock_on_a_missing_record_conflicts$' "$work/view.log"
report $? "it fails put_with_a_lock_on_a_missing_record_conflicts" "$work/view.log"
left=$("$records" "$work/view" 2>&1)
[ "$left" = "sessions 0 expiry 0" ]
report $? "every record the view run wrote is deleted ($left)"

# --- list() and scan() holding a lock across the visitor (over memory)
started=$(date +%s)
"$check" --driver-path "$plants" --timeout 3 plantwalk:walk \
    >"$work/walk.log" 2>&1
status=$?
took=$(($(date +%s) - started))
[ "$status" = 3 ] && [ "$took" -lt 60 ]
report $? "a walk holding its lock ends the run within the time limit (exit $status, ${took} s)" "$work/walk.log"
grep -q '^not ok [0-9]* - a_walk_lets_other_threads_call_in$' "$work/walk.log" &&
    grep -q 'the driver holds a lock across the visitor' "$work/walk.log"
report $? "another thread's call waiting on the visitor fails a_walk_lets_other_threads_call_in" "$work/walk.log"
grep -q '^Bail out! obol-driver-check: case a_visitor_may_call_back_into_the_driver did not finish within 3 s$' \
    "$work/walk.log"
report $? "the visitor's own call deadlocks, and the time limit names a_visitor_may_call_back_into_the_driver" "$work/walk.log"

# --- URLs that cannot work: one usage error, no case run
bad_url_is_one_error() {
    "$check" "$1" >"$work/url.out" 2>"$work/url.err"
    status=$?
    [ "$status" = 2 ] && [ ! -s "$work/url.out" ] &&
        [ "$(wc -l <"$work/url.err")" -eq 1 ] && grep -q "$2" "$work/url.err"
}
all=0
bad_url_is_one_error 'nope://x' "does not open a store: no driver for scheme 'nope'" || all=1
bad_url_is_one_error 'memory:x?bogus=1' "does not open a store: memory: unknown option 'bogus'" || all=1
bad_url_is_one_error 'Memory:x' "scheme 'Memory' must be lower-case" || all=1
report $all "a URL that does not open is one usage error, before any case" "$work/url.err"
bad_url_is_one_error 'memory:x?prefix=mine' "the URL sets 'prefix'"
report $? "a URL that sets a prefix is one usage error" "$work/url.err"

# --- the loader's report of a relative OBOL_DRIVER_PATH entry
OBOL_DRIVER_PATH="relative/dir:$plants" "$check" nope: >/dev/null 2>"$work/rel.err"
grep -q "in none of $plants, .* (OBOL_DRIVER_PATH entries skipped, not absolute: 'relative/dir')" \
    "$work/rel.err" && ! grep -q "none of relative" "$work/rel.err"
report $? "a relative OBOL_DRIVER_PATH entry is reported as skipped, not searched" "$work/rel.err"
