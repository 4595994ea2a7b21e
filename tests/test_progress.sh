#!/bin/sh
# The progress bar of `obol migrate` in a real terminal: the tool runs in
# tmux panes 120, 80, 50, 30 and 20 columns wide (all at once, on a private
# tmux server), slowed by OBOL_PROGRESS_TEST_DELAY_US so that the panes
# can be captured while the bar is drawn. While it runs the bar is the one
# line of the pane and is shorter than the width (a line that wraps cannot
# be redrawn in place and leaves a trail of half bars); afterwards no bar
# is left and the summary starts at column 0 of the first line. Warnings
# printed during the walk start at column 0 too. TAP output; a skip
# without tmux (a failure under CI=true).
srcdir=${srcdir:-.}
if ! command -v tmux >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        echo "Bail out! tmux not installed"
        exit 1
    fi
    echo "1..0 # SKIP tmux not installed"
    exit 0
fi
. "$srcdir/tests/cli_lib.sh"

widths="120 80 50 30 20"
sessions=3000
socket=$work/tmux.sock
PANE_DIR=$work/panes
OBOL_PROGRESS_TEST_DELAY_US=100000   # per update, that is per 256 records
export OBOL_BIN PANE_DIR OBOL_PROGRESS_TEST_DELAY_US
unset TMUX
mkdir "$PANE_DIR"

# A private server: its own socket, no configuration file, panes run with
# /bin/sh whatever the user's shell; it inherits this environment.
tmux_() {
    SHELL=/bin/sh tmux -f /dev/null -S "$socket" "$@"
}

# By the server's pid too, should its socket be gone.
tmux_pid=
stop_tmux() {
    tmux_ kill-server 2>/dev/null ||
        { [ -n "$tmux_pid" ] && kill "$tmux_pid" 2>/dev/null; }
    cleanup
}
trap stop_tmux EXIT

# The pane's program: the tool, then its exit status in a file, then a
# wait for the server's end, so that the pane stays as the tool left it.
cat >"$work/pane.sh" <<'EOF'
name=$1
shift
"$OBOL_BIN" "$@"
echo $? >"$PANE_DIR/$name.rc"
exec sleep 600
EOF

# pane NAME WIDTH HEIGHT ARGS...: runs obol ARGS in a new pane.
pane() {
    name=$1 width=$2 height=$3
    shift 3
    tmux_ new-session -d -s "$name" -x "$width" -y "$height" \
        sh "$work/pane.sh" "$name" "$@"
}

# capture FILE NAME [OPTIONS]: pane NAME's text, without trailing blanks.
capture() {
    tmux_ capture-pane -p ${3:-} -t "$2" | sed 's/[[:space:]]*$//' >"$1"
}

# ------------------------------------------------------------------ stores
gen_sessions "$sessions" 40 >"$work/sessions.json"
mkdir "$work/src" "$work/mixed"
run_in "$work/sessions.json" import "lmdb://$work/src"
expect "$sessions sessions to migrate" 0
# mixed: 300 of its records are sealed with another secret, so that the
# migration warns about them between redraws of the bar.
head -n 1500 "$work/sessions.json" >"$work/ours.json"
sed -n '1501,1800p' "$work/sessions.json" >"$work/theirs.json"
run_in "$work/ours.json" import "lmdb://$work/mixed"
OBOL_SECRET="another secret of 32 bytes or more" "$OBOL_BIN" import \
    "lmdb://$work/mixed" <"$work/theirs.json" >"$work/out" 2>"$work/err"
rc=$?
expect "a store with 300 records under another secret" 0

# --------------------------------------------------------- not a terminal
mkdir "$work/plain"
run migrate --progress "lmdb://$work/src" "lmdb://$work/plain"
check "--progress on a file: no escape sequence, redraws parted by CR, one newline" \
    python3 -c '
import sys
err = open(sys.argv[1], "rb").read()
assert b"\x1b" not in err, err[:200]
assert err.startswith(b"\r[") and err.endswith(b"\n") and err.count(b"\n") == 1, err[-200:]
' "$work/err"

# ------------------------------------------------------------- terminals
for w in $widths; do
    mkdir "$work/dst$w"
    pane "w$w" "$w" 10 migrate "lmdb://$work/src" "lmdb://$work/dst$w"
done
mkdir "$work/dstmixed"
pane mixed 50 10 migrate -v "lmdb://$work/mixed" "lmdb://$work/dstmixed"
tmux_pid=$(tmux_ display-message -p '#{pid}')

# While a pane runs, every capture that does not show the summary yet must
# hold at most one line, no longer than the width minus one; the last bar
# seen is kept in bar.W, and any bad capture in bad.W.
watch_running() {
    w=$1
    capture "$work/now" "w$w"
    [ -f "$PANE_DIR/w$w.rc" ] && return   # the summary may be in it
    grep -q copied "$work/now" && return
    lines=$(grep -c . "$work/now")
    [ "$lines" -eq 0 ] && return
    longest=$(awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }' "$work/now")
    if [ "$lines" -gt 1 ] || [ "$longest" -ge "$w" ]; then
        [ -f "$work/bad.$w" ] || cp "$work/now" "$work/bad.$w"
        return
    fi
    grep . "$work/now" >"$work/bar.$w"
}

tries=0
while :; do
    running=0
    for w in $widths; do
        if [ ! -f "$PANE_DIR/w$w.rc" ]; then
            running=1
            watch_running "$w"
        fi
    done
    [ -f "$PANE_DIR/mixed.rc" ] || running=1
    [ "$running" -eq 0 ] && break
    tries=$((tries + 1))
    if [ "$tries" -gt 400 ]; then
        echo "Bail out! the migrations in tmux did not end in 20 s"
        exit 1
    fi
    sleep 0.05
done

for w in $widths; do
    if [ -f "$work/bad.$w" ]; then
        not_ok "at $w columns the bar stays on one line, shorter than the width" \
            "the pane while migrating:" "$(cat "$work/bad.$w")"
    elif [ ! -f "$work/bar.$w" ]; then
        not_ok "at $w columns the bar stays on one line, shorter than the width" \
            "no capture showed the bar"
    else
        ok "at $w columns the bar stays on one line, shorter than the width"
        sed 's/^/#   /' "$work/bar.$w"
    fi
    capture "$work/after.$w" "w$w" "-J -S -"
    check "at $w columns migrate exits 0" test "$(cat "$PANE_DIR/w$w.rc")" = 0
    if [ "$(grep -c . "$work/after.$w")" -eq 1 ] &&
        head -n 1 "$work/after.$w" | grep -q "^copied $sessions, "; then
        ok "at $w columns the bar is erased and the summary starts at column 0"
    else
        not_ok "at $w columns the bar is erased and the summary starts at column 0" \
            "the pane afterwards:" "$(cat "$work/after.$w")"
    fi
done
check "at 120 columns the bar shows the bar, the counts, the rate and the time left" \
    grep -q "^\[[#.]*\]  *[0-9]*%  *[0-9]*/$sessions  *[0-9]*/s  *ETA " "$work/bar.120"
check "at 20 columns it shows the numbers only" \
    grep -q "^ *[0-9]*%  *[0-9]*/$sessions\$" "$work/bar.20"

capture "$work/after.mixed" mixed "-J -S -"
if grep . "$work/after.mixed" | grep -qv '^obol: \|^copied 1500, '; then
    not_ok "warnings during the walk start at column 0 and no bar is left" \
        "the pane afterwards:" "$(head -c 2000 "$work/after.mixed")"
else
    ok "warnings during the walk start at column 0 and no bar is left"
fi
check "every warning is shown, on a line of its own" \
    test "$(grep -c '^obol: .*refused' "$work/after.mixed")" = 300

tmux_ kill-server
done_testing
