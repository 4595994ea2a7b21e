# Shared by tests/test_cli*.sh (sourced): the obol tool as installed (into
# a temporary DESTDIR, with its library and drivers), a scratch directory
# removed on exit, TAP reporting, a private redis-server and session
# generators. Every test drives the tool the way an operator does.
set -u
. "${srcdir:-.}/tests/install_tree.sh"    # sets work, bindir, libdir, driverdir
OBOL_BIN=$bindir/obol
[ -x "$OBOL_BIN" ] || bail "obol was not installed in $bindir"
LD_LIBRARY_PATH=$libdir
OBOL_DRIVER_PATH=$driverdir
export LD_LIBRARY_PATH OBOL_DRIVER_PATH
UNSIGN=$OBOL_TEST_BUILDDIR/tests/cli_unsign
redis_pid=

cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    # OBOL_CLI_MESSAGES=FILE keeps every stderr line of the run, to read
    # the tool's words over (docs/CLI.md, "Words").
    if [ -n "${OBOL_CLI_MESSAGES:-}" ] && [ -f "$work/all-err" ]; then
        cp "$work/all-err" "$OBOL_CLI_MESSAGES"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

OBOL_SECRET="the cli test secret, 32 bytes or more"
export OBOL_SECRET
unset OBOL_SRC_SECRET OBOL_DST_SECRET

tests=0
failed=0

ok() {
    tests=$((tests + 1))
    echo "ok $tests - $1"
}

not_ok() {
    tests=$((tests + 1))
    failed=$((failed + 1))
    echo "not ok $tests - $1"
    shift
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/# /'
    done
}

done_testing() {
    echo "1..$tests"
    [ "$failed" -eq 0 ]
}

# run ARGS...: the tool's stdout in $work/out, stderr in $work/err, its
# exit status in $rc. Standard input is empty unless redirected. Every
# stderr is kept in $work/all-err too, for words_are_the_tools().
run() {
    "$OBOL_BIN" "$@" >"$work/out" 2>"$work/err" </dev/null
    rc=$?
    cat "$work/err" >>"$work/all-err"
}

# run_in FILE ARGS...: the same with FILE on standard input.
run_in() {
    input=$1
    shift
    "$OBOL_BIN" "$@" >"$work/out" 2>"$work/err" <"$input"
    rc=$?
    cat "$work/err" >>"$work/all-err"
}

# words_are_the_tools: what the tool said on stderr in every run so far
# names no library function, repeats no prefix ("get: get:", "obol:
# warning: obol:") and holds no hint meant for a programmer.
words_are_the_tools() {
    check "no message names a library function" \
        sh -c "! grep -E 'obol_[a-z]|NULL means' '$work/all-err'"
    check "no message repeats its prefix" \
        sh -c "! grep -E '^obol: ([a-z_ -]+): \\1: |obol: [a-z]+: obol:' '$work/all-err'"
    check "no message names the library call behind the command" \
        sh -c "! grep -E '^obol: [a-z -]+: (get|get_all|upsert|delete|delete_all|delete_everywhere|prune|scan|restore|migrate|rekey|count_keys|describe|store_open): ' '$work/all-err'"
    check "every usage error is one line" sh -c "! grep -q \"^Try 'obol --help'\" '$work/all-err'"
}

# expect NAME STATUS [PATTERN]: the last run exited with STATUS and, given
# a PATTERN, said it on stderr.
expect() {
    if [ "$rc" -ne "$2" ]; then
        not_ok "$1" "exit status $rc, wanted $2" "stderr: $(head -c 800 "$work/err")"
        return 1
    fi
    if [ -n "${3:-}" ] && ! grep -q -- "$3" "$work/err"; then
        not_ok "$1" "stderr does not say '$3':" "$(head -c 800 "$work/err")"
        return 1
    fi
    ok "$1"
}

# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
    name=$1
    shift
    if "$@" >"$work/check.log" 2>&1; then
        ok "$name"
    else
        not_ok "$name" "failed: $*" "$(head -c 800 "$work/check.log")"
    fi
}

# json_lines FILE: every line of FILE is a JSON object.
json_lines() {
    python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    assert isinstance(json.loads(line), dict), line
    n += 1
assert n > 0, "no lines"
' "$1"
}

# field FILE NAME: NAME of the first JSON line of FILE.
field() {
    python3 -c '
import json, sys
print(json.loads(open(sys.argv[1], encoding="utf-8").readline())[sys.argv[2]])
' "$1" "$2"
}

# no_float_noise FILE NAME:DECIMALS...: in the first JSON line of FILE,
# each member NAME (a.b for a member of a member) is a number written with
# at most DECIMALS digits after the point (0: an integer), as written, with
# no exponent: not 0.32444299799999499.
no_float_noise() {
    python3 - "$@" <<'PY'
import json, re, sys
doc = json.loads(open(sys.argv[1], encoding="utf-8").readline(),
                 parse_float=str, parse_int=str)
for spec in sys.argv[2:]:
    name, decimals = spec.rsplit(":", 1)
    value = doc
    for part in name.split("."):
        value = value[part]
    digits = "" if decimals == "0" else r"(\.[0-9]{1,%s})?" % decimals
    assert re.fullmatch(r"-?[0-9]+" + digits, value), "%s is %s" % (name, value)
PY
}

# same_sessions A B: the JSON lines of A and B hold the same sessions,
# member for member, in any order.
same_sessions() {
    python3 -c '
import json, sys
def load(path):
    return sorted(json.dumps(json.loads(l), sort_keys=True) for l in open(path, encoding="utf-8") if l.strip())
a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    print("%d vs %d sessions; first difference:" % (len(a), len(b)))
    for x, y in zip(a, b):
        if x != y:
            print(x); print(y); break
    sys.exit(1)
' "$1" "$2"
}

# no_raw_controls FILE: FILE is valid UTF-8 and holds none of what a
# terminal acts on: C0 controls but newline, DEL, C1 controls, bidi marks,
# embeddings, overrides and isolates.
no_raw_controls() {
    python3 -c '
import re, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")   # raises on bytes that are not UTF-8
bad = re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", text)
assert bad is None, "raw %r at %d: %r" % (bad.group(), bad.start(), text[max(0, bad.start() - 20):bad.end() + 20])
' "$1"
}

# count_lines FILE N: FILE has N lines.
count_lines() {
    [ "$(wc -l <"$1")" -eq "$2" ]
}

# gen_sessions COUNT USERS: COUNT live sessions of USERS users as JSON lines
# in the tool's format, with every kind of value a field can hold: ids
# that are not UTF-8 (base64 twins), binary payloads, "infinity", times a
# four-digit year cannot show, lock versions past INT64_MAX.
gen_sessions() {
    python3 - "$1" "$2" <<'PY'
import base64, datetime, json, random, sys, time
sys.stdout.reconfigure(encoding="utf-8")
count, users = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(20261128)
now = int(time.time())
INF = 2**63 - 1
def iso(t):
    if t == INF:
        return "infinity"
    if 0 <= t <= 253402300799:
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    return t
def rid():
    return base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("=")
def user(n):
    kind = n % 10
    if kind == 7:
        return {"user_id_b64": base64.b64encode(b"\xff\xfeuser\x01" + str(n).encode()).decode()}
    if kind == 8:
        return {"user_id": "usér-%d-✓" % n}
    return {"user_id": "user-%d" % n}
for i in range(count):
    s = {"id": rid()}
    s.update(user(i % users))
    s["type"] = ["full", "oauth2", "api"][i % 3]
    s["refresh_token_id"] = rid()
    created = now - rng.randrange(0, 90 * 86400)
    expires = INF if i % 5 == 0 else now + rng.randrange(30 * 86400, 60 * 86400)
    refresh_until = now + rng.randrange(86400, 20 * 86400)
    s["created_at"] = iso(created)
    s["refreshed_at"] = iso(created + rng.randrange(0, 86400))
    s["expires_at"] = iso(expires)
    s["refresh_expires_at"] = iso(refresh_until)
    s["tokens_fresh_from"] = iso(-62167219201 - i if i % 97 == 0 else created)
    s["prev_tokens_fresh_from"] = iso(253402300800 + i if i % 89 == 0 else created - 60)
    s["lock_version"] = "18446744073709551614" if i % 101 == 0 else rng.randrange(1, 1000)
    s["extra_payload"] = base64.b64encode(rng.randbytes(rng.randrange(0, 300))).decode()
    s["version"] = 2
    if i % 13 == 0:
        del s["id"]
        s["id_b64"] = base64.b64encode(b"\x80sid\x7f" + rid().encode()).decode()
    print(json.dumps(s, ensure_ascii=False, separators=(",", ":")))
PY
}

free_port() {
    python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
'
}

# start_redis [PASSWORD]: a private redis-server on a free loopback port,
# persistence off; sets $redis_url. With PASSWORD the server requires it
# (given in a config file, not in argv), it is exported as
# OBOL_TEST_REDIS_PASSWORD and $redis_auth is the option that gives it to
# the driver; else $redis_auth is empty. Without a server: a failure
# under CI=true, else a skip.
start_redis() {
    server=${REDIS_SERVER:-$(command -v redis-server || true)}
    if [ -z "$server" ]; then
        if [ "${CI:-}" = true ]; then
            echo "Bail out! redis-server not found"
            exit 1
        fi
        echo "1..0 # SKIP redis-server not found"
        exit 0
    fi
    : >"$work/redis.conf"
    redis_auth=
    if [ -n "${1:-}" ]; then
        printf 'requirepass "%s"\n' "$1" >"$work/redis.conf"
        OBOL_TEST_REDIS_PASSWORD=$1
        export OBOL_TEST_REDIS_PASSWORD
        redis_auth=password=env:OBOL_TEST_REDIS_PASSWORD
    fi
    redis_port=$(free_port)
    "$server" "$work/redis.conf" --port "$redis_port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$work" --logfile "$work/redis.log" --daemonize no &
    redis_pid=$!
    redis_url=redis://127.0.0.1:$redis_port
    tries=0
    until "$OBOL_BIN" check --sample 0 "$redis_url${redis_auth:+/0?$redis_auth}" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ]; then
            echo "Bail out! redis-server did not start"
            tail -n 20 "$work/redis.log"
            exit 1
        fi
        sleep 0.1
    done
}
