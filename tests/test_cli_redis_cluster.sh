#!/bin/sh
# The obol tool end to end on a private Redis Cluster (3 masters, a
# replica each): thousands of sessions migrated lmdb -> cluster -> lmdb
# come back byte for byte, the cluster store exports, lists and checks
# like any other, and migrating twice changes nothing. The migration rates
# are reported as TAP comments. TAP output.
srcdir=${srcdir:-.}
. "$srcdir/tests/cli_lib.sh"

CLUSTER_UP=$OBOL_TEST_BUILDDIR/tests/cluster_up
[ -x "$CLUSTER_UP" ] || bail "$CLUSTER_UP was not built"
SESSIONS=3000
USERS=300

# ------------------------------------------------------------ the cluster
# cluster_up keeps the cluster up while its standard input is open: the
# shell holds the write end of a FIFO on descriptor 9 and closes it on
# exit, whatever the way out, so no redis-server outlives the test.
cluster_pid=
stop_cluster() {
    exec 9>&-
    if [ -n "$cluster_pid" ]; then
        wait "$cluster_pid" 2>/dev/null
        cluster_pid=
    fi
}
trap 'stop_cluster; cleanup' EXIT

mkfifo "$work/cluster.in" || bail "mkfifo failed"
"$CLUSTER_UP" <"$work/cluster.in" >"$work/cluster.out" 2>"$work/cluster.err" &
cluster_pid=$!
exec 9>"$work/cluster.in"

# The first line is the URL, or the TAP line that says why there is none.
tries=0
until grep -q . "$work/cluster.out" 2>/dev/null; do
    if ! kill -0 "$cluster_pid" 2>/dev/null; then
        grep -q . "$work/cluster.out" && break
        sed 's/^/# /' "$work/cluster.err"
        bail "cluster_up exited without a word"
    fi
    tries=$((tries + 1))
    [ "$tries" -le 600 ] || bail "the cluster did not start in 60 s"
    sleep 0.1
done
first=$(head -n 1 "$work/cluster.out")
case $first in
redis+cluster://*) cluster_url=$first ;;
"1..0 # SKIP"*)
    echo "$first"
    cat "$work/cluster.err" >&2
    exit 0
    ;;
*)
    echo "$first"
    sed 's/^/# /' "$work/cluster.err"
    exit 1
    ;;
esac
cs=$cluster_url\&prefix=x

# cluster_ports: the port of every node the URL names, one a line.
cluster_ports() {
    printf '%s\n' "$cluster_url" | sed 's|^redis+cluster://||; s|?nodes=|,|' |
        tr ',' '\n' | sed 's|.*:||'
}

server=${REDIS_SERVER:-$(command -v redis-server || true)}
redis_cli=${REDIS_CLI:-$(dirname "$server")/redis-cli}
[ -x "$redis_cli" ] || redis_cli=$(command -v redis-cli || true)

# master_key_counts: "PORT KEYS" for every node that says it is a master.
master_key_counts() {
    for port in $(cluster_ports); do
        if "$redis_cli" -h 127.0.0.1 -p "$port" role | head -n 1 | grep -qx master; then
            echo "$port $("$redis_cli" -h 127.0.0.1 -p "$port" dbsize)"
        fi
    done
}

# same_bytes A B: the sorted lines of A and B are the same bytes.
same_bytes() {
    LC_ALL=C sort "$1" >"$1.sorted" && LC_ALL=C sort "$2" >"$2.sorted" &&
        cmp "$1.sorted" "$2.sorted"
}

# export_to URL FILE: obol export of URL into FILE; a failure is a test
# failure of its own, so that the comparison after it is not the only word.
export_to() {
    "$OBOL_BIN" export "$1" >"$2" 2>"$work/export.err" </dev/null ||
        not_ok "export $1" "exit status $?" "$(head -c 800 "$work/export.err")"
}

# migrated NAME: the last `migrate --json` copied every session and
# skipped and rejected none.
migrated() {
    check "$1 copied $SESSIONS, skipped and rejected none" test \
        "$(field "$work/out" copied) $(field "$work/out" skipped) $(field "$work/out" rejected)" \
        = "$SESSIONS 0 0"
    echo "# $1: $(field "$work/out" sessions_per_second | cut -d. -f1) sessions/s ($SESSIONS sessions)"
}

# ------------------------------------------------------- sessions in LMDB
# gen_sessions' sessions (ids and user ids that are not UTF-8, binary
# payloads, extreme times and lock versions), and some of them again under
# user ids with braces and colons: a Redis Cluster hashes only what stands
# between the first '{' and the next '}' of a key, so these are the user
# ids a driver must escape to keep one user's keys in one slot.
gen_sessions $((SESSIONS - SESSIONS / 40)) "$USERS" >"$work/gen.jsonl"
python3 - "$work/gen.jsonl" >"$work/braces.jsonl" <<'PY'
import json, sys
users = ["{tag}", "a}b{c", "{}", "x:{full}:rec", "{{", "}"]
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
made = 0
for n, line in enumerate(lines):
    s = json.loads(line)
    if n % 31 != 5 or "id" not in s:
        continue
    s.pop("user_id_b64", None)
    s["id"] = "brace-%d-%s" % (n, s["id"])
    s["user_id"] = users[made % len(users)]
    print(json.dumps(s, ensure_ascii=False, separators=(",", ":")))
    made += 1
PY
head -n $((SESSIONS / 40)) "$work/braces.jsonl" >"$work/extra.jsonl"
cat "$work/gen.jsonl" "$work/extra.jsonl" >"$work/sessions.jsonl"
check "the input holds $SESSIONS sessions" count_lines "$work/sessions.jsonl" "$SESSIONS"

mkdir "$work/A" "$work/B"
run_in "$work/sessions.jsonl" import "lmdb://$work/A"
expect "import $SESSIONS sessions into lmdb A" 0
export_to "lmdb://$work/A" "$work/A.jsonl"
check "lmdb A holds every field of every session" same_sessions "$work/sessions.jsonl" "$work/A.jsonl"

# ---------------------------------------------------- check on the cluster
run check --json "$cs"
expect "check on the cluster" 0
field "$work/out" backend >"$work/backend"
check "check names the redis driver" test "$(field "$work/out" driver)" = redis
cluster_ports >"$work/ports"
# "redis V cluster, 3 masters: H:P slots A-B replicas H:Q; ...": three
# masters, a replica each, all six the nodes of the URL, the slots covered
# once in order.
check "check names the three masters, their slots and replicas" python3 - "$work/backend" "$work/ports" <<'PY'
import re, sys
backend = open(sys.argv[1]).read().strip()
ports = set(open(sys.argv[2]).read().split())
head, _, masters = backend.partition(" cluster, 3 masters: ")
assert re.fullmatch(r"redis \d+\.\d+\.\d+", head), backend
named, next_slot = [], 0
for part in masters.split("; "):
    m = re.fullmatch(r"127\.0\.0\.1:(\d+) slots (\d+)-(\d+) replicas 127\.0\.0\.1:(\d+)", part)
    assert m, "not a master with its slots and one replica: %r" % part
    master, first, last, replica = m.groups()
    assert int(first) == next_slot, "slots out of order in %r" % part
    next_slot = int(last) + 1
    named += [master, replica]
assert next_slot == 16384, "the slots end at %d" % (next_slot - 1)
assert len(named) == 6 and set(named) == ports, "%s vs the URL's %s" % (named, sorted(ports))
PY

# -------------------------------------------------------- lmdb -> cluster
run migrate --json "lmdb://$work/A" "$cs"
expect "migrate lmdb A -> cluster" 0
migrated "lmdb -> cluster"
export_to "$cs" "$work/cluster.jsonl"
check "exporting the cluster gives lmdb A's lines, byte for byte" same_bytes "$work/A.jsonl" "$work/cluster.jsonl"
master_key_counts >"$work/keys1"
echo "# keys per master (port keys): $(tr '\n' ' ' <"$work/keys1")"
check "every master holds some of the sessions" sh -c "
    test \$(wc -l <'$work/keys1') -eq 3 && ! awk '\$2 == 0' '$work/keys1' | grep -q ."

run migrate --json "lmdb://$work/A" "$cs"
expect "migrating into the cluster again" 0
migrated "lmdb -> cluster, again"
export_to "$cs" "$work/cluster2.jsonl"
check "changes no session: migrate is idempotent" same_bytes "$work/A.jsonl" "$work/cluster2.jsonl"
master_key_counts >"$work/keys2"
check "and no key on any master" cmp "$work/keys1" "$work/keys2"

# ---------------------------------------------- per user on the cluster
# user_sessions USER [TYPE]: the input's sessions of USER (of TYPE).
user_sessions() {
    python3 - "$work/sessions.jsonl" "$@" <<'PY'
import json, sys
path, user, types = sys.argv[1], sys.argv[2], sys.argv[3:]
for line in open(path, encoding="utf-8"):
    s = json.loads(line)
    if s.get("user_id") == user and (not types or s["type"] in types):
        print(line, end="")
PY
}

# All of user-1's sessions are oauth2: gen_sessions gives session i the
# user i % USERS and the type i % 3, and USERS is a multiple of 3.
user_sessions user-1 oauth2 >"$work/user-1.jsonl"
n=$(wc -l <"$work/user-1.jsonl")
[ "$n" -gt 0 ] || bail "the input has no session of user-1"
run ls --json "$cs" user-1 oauth2
expect "ls of one user on the cluster" 0
check "lists exactly that user's $n sessions" same_sessions "$work/user-1.jsonl" "$work/out"
run ls "$cs" user-1 oauth2
check "ls counts them" grep -qx "$n sessions\?" "$work/out"
for user in "{tag}" "a}b{c"; do
    user_sessions "$user" >"$work/brace-user.jsonl"
    n=$(wc -l <"$work/brace-user.jsonl")
    [ "$n" -gt 0 ] || bail "the input has no session of '$user'"
    run ls --json --all-types "$cs" "$user"
    expect "ls --all-types of user '$user' on the cluster" 0
    check "lists the $n sessions of '$user'" same_sessions "$work/brace-user.jsonl" "$work/out"
done

# -------------------------------------------------------- cluster -> lmdb
run migrate --json "$cs" "lmdb://$work/B"
expect "migrate cluster -> lmdb B" 0
migrated "cluster -> lmdb"
export_to "lmdb://$work/B" "$work/B.jsonl"
check "lmdb B exports lmdb A's lines, byte for byte" same_bytes "$work/A.jsonl" "$work/B.jsonl"

done_testing
