#!/bin/sh
# The obol tool end to end on LMDB: every command, --json output, sessions
# kept byte for byte through export and import, legacy unsigned records
# upgraded by migrate, key rotation with rekey, and bad input refused with its exit status while
# the store stays as it was. TAP output.
srcdir=${srcdir:-.}
. "$srcdir/tests/cli_lib.sh"

db=lmdb://$work/db
mkdir "$work/db" "$work/other" "$work/legacy" "$work/rotation"

# ------------------------------------------------------------ the command line
run --help
expect "--help exits 0" 0
check "--help documents every exit status" grep -q "6  records were refused for their seal" "$work/out"
check "--help lists rekey" grep -q "obol rekey *URL" "$work/out"
run --version
expect "--version exits 0" 0
run
expect "no command is a usage error" 2 "no command"
run frobnicate "$db"
expect "an unknown command is a usage error" 2 "unknown command"
check "that names the commands" grep -q "(commands: get, ls, rm, rm-all" "$work/err"
run gte "$db" a b
expect "a misspelt command is a usage error" 2 "unknown command 'gte'; did you mean 'get'?"
run rmall "$db" alice
expect "with the command meant" 2 "did you mean 'rm-all'?"
run --bogus get "$db" a b
expect "an unknown option is a usage error" 2 "unknown option '--bogus'"
check "said once, in one line" count_lines "$work/err" 1
run -x get "$db" a b
expect "an unknown short option" 2 "unknown option '-x'"
check "is one line too" count_lines "$work/err" 1
run --jsno get "$db" a b
expect "a misspelt option" 2 "unknown option '--jsno'; did you mean '--json'?"
check "is one line" count_lines "$work/err" 1
run get "$db" a b --ttl
expect "an option without its value" 2 "option '--ttl' needs a value"
check "is one line" count_lines "$work/err" 1
run --json=yes get "$db" a b
expect "a value for an option that takes none" 2 "option '--json' takes no value"
run --ttl forever put "$db"
expect "a bad duration is one line" 2 "--ttl 'forever' is not a duration"
check "is one line" count_lines "$work/err" 1
run get "$db" "" alice
expect "an empty SID is a usage error in the tool's words" 2 "get: SID is empty"
run ls "$db" alice ""
expect "an empty TYPE" 2 "ls: TYPE is empty"
check "not the library's NULL" sh -c "! grep -q NULL '$work/err'"
run get "$db" only-a-sid
expect "missing operands are a usage error" 2 "usage: obol get"
run get --all-types "$db" a b
expect "an option of another command is a usage error" 2 "option of ls"

# --------------------------------------------------------------- put and get
echo '{"user_id":"alice","extra_payload":"AAEC/w=="}' >"$work/new.json"
run_in "$work/new.json" put --json "$db"
expect "put creates a session from a user_id alone" 0
cp "$work/out" "$work/alice.json"
check "put --json prints the stored session" json_lines "$work/alice.json"
check "a created session has lock_version 1" test "$(field "$work/alice.json" lock_version)" = 1
sid=$(field "$work/alice.json" id)
check "a created session gets a random id" test "${#sid}" -ge 16

run get --json -- "$db" "$sid" alice
expect "get finds it" 0
check "get --json is the stored session" same_sessions "$work/out" "$work/alice.json"
run get -- "$db" "$sid" alice full
expect "get prints text" 0
check "text shows ISO-8601 UTC times" grep -Eq '^created_at +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$work/out"
check "text shows the payload escaped" grep -q 'extra_payload *4 bytes: "\\x00\\x01\\x02\\xff"' "$work/out"
run get "$db" no-such-session alice
expect "get of a missing session is 'not found'" 1 "not found"
run get -- "$db" "$sid" alice oauth2
expect "get under another type is 'not found'" 1

# ------------------------------------------------------------- put updates
printf '{"id":"%s","user_id":"alice","lock_version":1,"expires_at":"infinity"}\n' "$sid" >"$work/update.json"
run_in "$work/update.json" put --json "$db"
expect "put with the current lock_version updates" 0
check "the update moves lock_version to 2" test "$(field "$work/out" lock_version)" = 2
check "the update keeps the fields not given" test "$(field "$work/out" extra_payload)" = "AAEC/w=="
check "the update writes the fields given" test "$(field "$work/out" expires_at)" = infinity
"$OBOL_BIN" export "$db" >"$work/before" 2>/dev/null
run_in "$work/update.json" put "$db"
expect "put with a stale lock_version is a conflict" 4 "stale"
printf '{"id":"%s","user_id":"alice"}\n' "$sid" >"$work/dup.json"
run_in "$work/dup.json" put "$db"
expect "put of a new session with a taken id is a conflict" 4 "already exists"
printf '{"user_id":"alice","expires_at":"2001-01-01T00:00:00Z","refresh_expires_at":"2001-01-01T00:00:00Z"}\n' >"$work/dead.json"
run_in "$work/dead.json" put "$db"
expect "put of an already expired session says nothing was written" 2 "nothing written"
printf '{"user_id":"alice","expires":"2030-01-01T00:00:00Z"}\n' >"$work/typo.json"
run_in "$work/typo.json" put "$db"
expect "put refuses an unknown member" 2 "unknown member 'expires'"
printf '{"user_id":"alice","created_at":"2026-02-30T00:00:00Z"}\n' >"$work/baddate.json"
run_in "$work/baddate.json" put "$db"
expect "put refuses an impossible date" 2 "created_at"
printf '{"user_id":""}\n' >"$work/nouser.json"
run_in "$work/nouser.json" put "$db"
expect "put of an empty user_id says so, a usage error" 2 "user_id is empty"
check "and does not blame memory" sh -c "! grep -q 'out of memory' '$work/err'"
printf '{"user_id":"alice","type":""}\n' >"$work/emptytype.json"
run_in "$work/emptytype.json" put "$db"
expect "put of an empty type says so in the input's terms" 2 "put: type is empty (leave it out for \"full\")"
printf '{"user_id":"alice","id":""}\n' >"$work/emptyid.json"
run_in "$work/emptyid.json" put "$db"
expect "put of an empty id" 2 "put: id is empty"
printf '{"user_id": "alice",' >"$work/broken.json"
run_in "$work/broken.json" put "$db"
expect "put refuses malformed JSON" 2 "malformed JSON"
"$OBOL_BIN" export "$db" >"$work/after" 2>/dev/null
check "refused puts change nothing" cmp -s "$work/before" "$work/after"

# ---------------------------------------------------------- ls, rm, rm-all
echo '{"user_id":"alice","type":"oauth2"}' >"$work/oauth.json"
run_in "$work/oauth.json" put "$db"
echo '{"user_id":"bob"}' >"$work/bob.json"
run_in "$work/bob.json" put "$db"
run ls "$db" alice
expect "ls lists a user's sessions of one type" 0
check "ls shows one full session" grep -q "^1 session$" "$work/out"
run ls --json "$db" alice oauth2
expect "ls --json of another type" 0
check "ls --json prints one JSON line per session" json_lines "$work/out"
check "ls of oauth2 shows only oauth2" test "$(field "$work/out" type)" = oauth2
run ls --json --all-types "$db" alice
expect "ls --all-types" 0
check "ls --all-types shows every type of the user and no other user" count_lines "$work/out" 2
run ls "$db" alice full --all-types
expect "ls with a TYPE and --all-types is a usage error" 2
run rm-all --json "$db" alice oauth2
expect "rm-all" 0
check "rm-all --json says ok" grep -q '"status":"ok"' "$work/out"
check "and how many it removed" grep -q '"removed":1' "$work/out"
run ls --json --all-types "$db" alice
check "rm-all removed that type only" count_lines "$work/out" 1
run ls --json "$db" bob
check "rm-all left other users alone" count_lines "$work/out" 1
run rm -- "$db" "$sid" alice
expect "rm" 0
check "rm says it removed one" grep -qx "removed 1 session" "$work/out"
run get -- "$db" "$sid" alice
expect "a removed session is not found" 1
run rm -- "$db" "$sid" alice
expect "rm of a missing session is not an error" 0
check "and says it removed none, and why" \
    grep -qx "removed 0 sessions: there is no session with that id, user and type" "$work/out"
run rm --json -- "$db" "$sid" alice
check "rm --json says removed 0" grep -q '"removed":0' "$work/out"
run rm-all "$db" bob
check "rm-all says how many it removed" grep -qx "removed 1 session" "$work/out"
run rm-all "$db" bob
check "rm-all of nothing says 0" grep -qx "removed 0 sessions" "$work/out"
run_in "$work/bob.json" put --json "$db"
cp "$work/out" "$work/bob.out"
run_in "$work/bob.json" put --ttl 0 --refresh-ttl 0 "$db"
run_in "$work/bob.json" put --ttl 0 --refresh-ttl 0 "$db"
sleep 1.1   # they die when their second is over
run prune "$db"
expect "prune" 0
check "prune says how many expired records it removed" grep -qx "removed 2 expired records" "$work/out"
run prune --json "$db"
expect "prune --json" 0
check "prune --json says removed 0 now" grep -q '"command":"prune","status":"ok","removed":0' "$work/out"
run ls "$db" bob
check "and left bob's live session" grep -q "^1 session$" "$work/out"

# ------------------------------------------------- rm-all --all-types
logout=lmdb://$work/logout
mkdir "$work/logout"
for session in '"alice"' '"alice","type":"oauth2"' '"alice","type":"api"' \
        '"alice","type":"admin"' '"bob"' '"bob","type":"oauth2"'; do
    echo "{\"user_id\":$session}" >"$work/s.json"
    run_in "$work/s.json" put "$logout"
done
run rm-all "$logout" alice --all-types
expect "rm-all --all-types without types= in the URL is a usage error" 2 "types="
run ls --json --all-types "$logout" alice
check "and deletes nothing" count_lines "$work/out" 4
run rm-all "$logout?types=oauth2" alice full --all-types
expect "rm-all with a TYPE and --all-types is a usage error" 2 "not both"
run rm-all "$logout?types=oauth2,oauth2" alice --all-types
expect "rm-all names a bad types= option" 2 "'oauth2' twice"
run rm-all --json "$logout?types=oauth2,api" alice --all-types
expect "rm-all --all-types" 0
check "rm-all --all-types --json says ok" grep -q '"status":"ok"' "$work/out"
check "rm-all --all-types counts every type it removed" grep -q '"removed":3' "$work/out"
run ls --json --all-types "$logout" alice
check "rm-all --all-types removed every listed type and full, not the others" \
    test "$(field "$work/out" type)" = admin -a "$(wc -l <"$work/out")" -eq 1
run ls --json --all-types "$logout" bob
check "rm-all --all-types left other users alone" count_lines "$work/out" 2
run rm-all "$logout?types=oauth2,api" alice --all-types
expect "rm-all --all-types again is not an error" 0
check "and removed none" grep -qx "removed 0 sessions" "$work/out"

# --------------------------------------------------------------- check
run check "$db"
expect "check" 0
check "check names the driver" grep -q "^driver *lmdb" "$work/out"
check "check reports a round trip" grep -q "^round trip *min" "$work/out"
check "check reports the verified sample" grep -q "1 verified, 0 expired, 0 rejected" "$work/out"
check "check counts the records of each key id" grep -q "^key ids *key 1: 1 record (signing)$" "$work/out"
check "check summarises its gets from the store's stats" \
    grep -Eq '^latency +get: 21 calls, p50 [0-9.]+ us, p90 [0-9.]+ us, p99 [0-9.]+ us$' "$work/out"
check "and its walks" grep -Eq '^ +scan: 1 call, p50 [0-9.]+ us' "$work/out"
run check --json "$db"
check "check --json parses" json_lines "$work/out"
check "check --json has no float noise: microseconds to one decimal" \
    no_float_noise "$work/out" latency_us.min:1 latency_us.median:1 latency_us.max:1
check "check --json counts its gets under operations" python3 -c '
import json, sys
ops = json.load(open(sys.argv[1]))["operations"]
sys.exit(0 if ops["get"]["calls"] == 21 and ops["get"]["p99_us"] >= ops["get"]["p50_us"] > 0 else 1)' "$work/out"
check "and its quantiles without float noise" no_float_noise "$work/out" \
    operations.get.p50_us:1 operations.get.p90_us:1 operations.get.p99_us:1
echo "another secret, of enough length to sign" >"$work/wrong.secret"
run check --secret-file "$work/wrong.secret" "$db"
expect "check with the wrong key reports rejected records" 6
check "check counts the rejected record" grep -q "0 verified, 0 expired, 1 rejected" "$work/out"

# ------------------------------------------------ a wrong secret is loud
bob_sid=$(field "$work/bob.out" id)
run get --secret-file "$work/wrong.secret" -- "$db" "$bob_sid" bob
expect "get of a session whose record does not verify is status 6, not 'not found'" 6 \
    "get: 1 record refused, not shown: MAC mismatch"
check "and names the likely causes" grep -q "(wrong secret or key_id, unsigned records" "$work/err"
run ls --secret-file "$work/wrong.secret" "$db" bob
expect "ls of a user whose records do not verify is status 6" 6 "ls: 1 record refused, not listed"
check "after listing what did verify" grep -q "^0 sessions$" "$work/out"
run ls --secret-file "$work/wrong.secret" --all-types "$db" bob
expect "so is ls --all-types" 6 "1 record refused"
run ls --all-types "$db" bob
expect "with the right secret ls is 0" 0
printf '{"id":"%s","user_id":"bob","lock_version":1,"expires_at":"infinity"}\n' "$bob_sid" >"$work/bob-update.json"
run_in "$work/bob-update.json" put --secret-file "$work/wrong.secret" "$db"
expect "put updating a session whose record is refused is 6, not a conflict" 6 "put: 1 record refused, not updated"
mixed=lmdb://$work/mixed
mkdir "$work/mixed"
run_in "$work/bob.json" put "$mixed"
echo '{"user_id":"carol"}' >"$work/carol.json"
run_in "$work/carol.json" put --secret-file "$work/wrong.secret" "$mixed"
run ls --all-types "$mixed" bob
expect "ls --all-types is not 6 for the refused records of other users" 0
run ls --all-types "$mixed" carol
expect "but is for that user's" 6 "1 record refused"
for i in 1 2 3 4 5 6 7 8; do run_in "$work/carol.json" put --secret-file "$work/wrong.secret" "$mixed"; done
run check --json --sample 3 "$mixed"
expect "check --sample of a store whose records mostly do not verify" 6
check "stops after 3 records, not after 3 live ones" python3 -c '
import json, sys
sample = json.loads(open(sys.argv[1]).readline())["sample"]
assert sample["records"] == 3, sample
' "$work/out"

# -------------------------------------------- export and import, byte for byte
gen_sessions 300 40 >"$work/many.jsonl"
run_in "$work/many.jsonl" import "$db"
expect "import of 300 sessions" 0
check "import says how many" grep -q "imported 300 sessions" "$work/out"
"$OBOL_BIN" export "$db" >"$work/all.jsonl" 2>"$work/err"
check "export writes JSON lines" json_lines "$work/all.jsonl"
check "and its summary on stderr, not as an error" \
    grep -qx "exported 301 sessions; skipped 0 expired and 0 rejected records" "$work/err"
check "export holds the 300 imported sessions and bob's" count_lines "$work/all.jsonl" 301
grep -v '"user_id":"bob"' "$work/all.jsonl" >"$work/all-but-bob.jsonl"
check "every field survives import and export: binary ids, payloads, extreme times and locks" \
    same_sessions "$work/many.jsonl" "$work/all-but-bob.jsonl"
check "ids that are not UTF-8 travel as base64 twins" grep -q '"id_b64"' "$work/all.jsonl"
run_in "$work/all.jsonl" import "lmdb://$work/other"
"$OBOL_BIN" export "lmdb://$work/other" >"$work/other.jsonl" 2>/dev/null
check "export, import into another store, export: the same sessions" \
    same_sessions "$work/all.jsonl" "$work/other.jsonl"
binary_user=$(printf '\377\376user\0017')
run ls --json --all-types "$db" "$binary_user"
expect "ls of a user id that is not UTF-8" 0
check "finds that user's sessions" count_lines "$work/out" 8
run ls --all-types "$db" "$binary_user"
check "text output escapes bytes that are not UTF-8" grep -q '^8 sessions$' "$work/out"
check "text output holds no raw control bytes" sh -c "! LC_ALL=C grep -q \"\$(printf '[\001\377]')\" '$work/out'"

# ------------------------------------ text from records and backends escaped
# A user id with ESC [ 31m, CSI as a C1 pair (C2 9B), U+202E (right-to-left
# override), a byte that is not UTF-8 (FF) and DEL; an id with the same
# controls in valid UTF-8 (so that --json prints it as a string), and a
# payload of the user id's bytes.
hostile=lmdb://$work/hostile
mkdir "$work/hostile"
hostile_user=$(printf 'u\033[31m\302\233\342\200\256\377\177')
python3 - "$work/many.jsonl" >"$work/hostile.jsonl" <<'PY'
import base64, json, sys
s = json.loads(open(sys.argv[1], encoding="utf-8").readline())
for name in ("id", "id_b64", "user_id", "user_id_b64"):
    s.pop(name, None)
raw = b"u\x1b[31m\xc2\x9b\xe2\x80\xae\xff\x7f"
s["id"] = "s\x1b[31m\u0085\u202e\u2066\x7f-id"
s["user_id_b64"] = base64.b64encode(raw).decode()
s["type"] = "t\u200f\x1b[0m"
s["extra_payload"] = base64.b64encode(raw).decode()
print(json.dumps(s))
PY
hostile_sid=$(printf 's\033[31m\302\205\342\200\256\342\201\246\177-id')
hostile_type=$(printf 't\342\200\217\033[0m')
run_in "$work/hostile.jsonl" import "$hostile"
expect "import of a session whose ids and payload hold controls" 0
run ls --all-types "$hostile" "$hostile_user"
expect "ls of that user" 0
check "ls escapes the controls in ids and types" no_raw_controls "$work/out"
check "ls shows them as escapes" grep -qF 's\x1b[31m\u0085\u202e\u2066\x7f-id' "$work/out"
run get -- "$hostile" "$hostile_sid" "$hostile_user" "$hostile_type"
expect "get of that session" 0
check "get escapes the controls in ids, type and payload" no_raw_controls "$work/out"
check "get shows the user id escaped, bytes that are not UTF-8 included" \
    grep -qF 'u\x1b[31m\u009b\u202e\xff\x7f' "$work/out"
check "get shows the payload escaped" \
    grep -qF '13 bytes: "u\x1b[31m\u009b\u202e\xff\x7f"' "$work/out"
run get --json -- "$hostile" "$hostile_sid" "$hostile_user" "$hostile_type"
check "get --json escapes them too (DEL, C1 and bidi as \\u)" no_raw_controls "$work/out"
check "get --json stays the same session" same_sessions "$work/out" "$work/hostile.jsonl"
run export "$hostile"
expect "export of that store" 0
check "export escapes them" no_raw_controls "$work/out"
check "export is still the same session, byte for byte" same_sessions "$work/out" "$work/hostile.jsonl"
run get "$hostile?%1B%5B31m%E2%80%AE%C2%9Bx=1" a b
expect "a driver error quoting an option name with controls" 2 "unknown option"
check "has them escaped in the message" no_raw_controls "$work/err"
check "and shows them as escapes" grep -qF '"\x1b[31m\u202e\u009bx"' "$work/err"
run "$(printf 'frob\033]0;title\007')" "$db"
check "an unknown command is echoed escaped" no_raw_controls "$work/err"
"$OBOL_BIN" import "lmdb://$work/not-utf8-%FF" </dev/null >/dev/null 2>&1
run check --json "lmdb://$work/not-utf8-%FF"
expect "check --json of a store whose path is not UTF-8" 0
check "prints valid JSON, the backend's description escaped" python3 -c '
import json, sys
backend = json.loads(open(sys.argv[1]).readline())["backend"]
assert "not-utf8-\\xff" in backend, backend
' "$work/out"
run check "lmdb://$work/not-utf8-%FF"
check "check escapes the backend's description" no_raw_controls "$work/out"

# ------------------------------------------------- bad input changes nothing
"$OBOL_BIN" export "$db" >"$work/before" 2>/dev/null
{ head -n 5 "$work/many.jsonl"; echo '{"id": "x", "user_id": '; } >"$work/bad.jsonl"
run_in "$work/bad.jsonl" import "$db"
expect "import of malformed JSON names the line" 2 "line 6: malformed JSON"
sed -n '2,4s/"lock_version":[0-9][0-9]*/"lock_version":0/p' "$work/many.jsonl" >"$work/lock0.jsonl"
run_in "$work/lock0.jsonl" import "$db"
expect "import refuses lock_version 0" 2 "line 1: lock_version must be at least 1"
python3 -c '
import base64, json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()[:4]
big = json.loads(lines[0]); big["extra_payload"] = base64.b64encode(b"x" * 70000).decode()
lines.append(json.dumps(big))
print("\n".join(lines))
' "$work/many.jsonl" >"$work/big.jsonl"
run_in "$work/big.jsonl" import "$db"
expect "import of a payload over max_payload names the line" 2 "line 5: .*max_payload"
{ head -n 1 "$work/many.jsonl"; printf '{"id":"x"}\000 binary garbage\n'; } >"$work/nul.jsonl"
run_in "$work/nul.jsonl" import "$db"
expect "import refuses a NUL byte inside a line and names the line" 2 "line 2: contains a NUL byte"
{ printf '\000\n'; head -n 1 "$work/many.jsonl"; } >"$work/nul-first.jsonl"
run_in "$work/nul-first.jsonl" import "$db"
expect "a line that starts with a NUL byte is refused, not skipped as blank" 2 "line 1: contains a NUL byte"
mkdir "$work/toolong"
python3 - "$work/many.jsonl" >"$work/toolong.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()[1:4]
last = json.loads(lines[2])
last.pop("id_b64", None)
last["id"] = "x" * 600          # the LMDB key would pass its 511 bytes
lines[2] = json.dumps(last)
print("\n".join(lines))
PY
run_in "$work/toolong.jsonl" import "lmdb://$work/toolong"
expect "import of an id too long for an LMDB key in line 3 of 3 names the line" 2 "line 3: "
"$OBOL_BIN" export "lmdb://$work/toolong" >"$work/toolong.out" 2>/dev/null
check "and writes nothing: lines 1 and 2 are absent" test ! -s "$work/toolong.out"
sed '2s/"type":"[a-z0-9]*",//' "$work/many.jsonl" | head -n 3 >"$work/notype.jsonl"
run_in "$work/notype.jsonl" import "$db"
expect "import names a missing member" 2 "line 2: member 'type' is missing"
run get "mysql://$work/db" a b
expect "an unknown scheme is a driver error" 3 "no driver for scheme 'mysql'"
run get "lmbd://$work/db" a b
expect "a misspelt scheme is a usage error" 2 "did you mean 'lmdb'?"
run get "memroy:" a b
expect "memory misspelt" 2 "did you mean 'memory'?"
run get "redis+unx:///tmp/obol-no-such.sock" a b
expect "a misspelt variant of a driver's scheme" 2 "does not serve scheme 'redis+unx'; did you mean 'redis+unix'?"
run get "rediss+sentinal://127.0.0.1:1/m" a b
expect "and of the TLS Sentinel scheme" 2 "did you mean 'rediss+sentinel'?"
run_in "$work/many.jsonl" import "nosuch://x"
expect "import into an unknown scheme" 3 "no driver"
(unset OBOL_SECRET; "$OBOL_BIN" import "$db" <"$work/many.jsonl" >"$work/out" 2>"$work/err"); rc=$?
expect "import without a secret is a key error" 5 "OBOL_SECRET"
(unset OBOL_SECRET; "$OBOL_BIN" get -- "$db" "$sid" alice >"$work/out" 2>"$work/err"); rc=$?
expect "get without a secret is a key error" 5 "no signing key"
check "that says what to do in the operator's terms, once" \
    grep -qx "obol: get: the store has no signing key; set OBOL_SECRET or use --secret-file (see SECRETS in obol(1))" "$work/err"
cat "$work/err" >>"$work/all-err"
(unset OBOL_SECRET; "$OBOL_BIN" ls "$db" alice >"$work/out" 2>"$work/err"); rc=$?
expect "ls without a secret" 5 "^obol: ls: the store has no signing key; set OBOL_SECRET"
cat "$work/err" >>"$work/all-err"
(unset OBOL_SECRET; "$OBOL_BIN" migrate "$db" "lmdb://$work/other" >"$work/out" 2>"$work/err"); rc=$?
expect "migrate without a secret names the source's variables" 5 \
    "^obol: migrate: source: the store has no signing key; set OBOL_SRC_SECRET or OBOL_SECRET, or use --src-secret-file"
cat "$work/err" >>"$work/all-err"
(unset OBOL_SECRET; "$OBOL_BIN" rm-all "$db" bob >"$work/out" 2>"$work/err"); rc=$?
expect "rm-all without a secret is a key error" 5
run get "$db?secret=env:NO_SUCH_VARIABLE" a b
expect "a secret variable that is not set is a key error" 5 "NO_SUCH_VARIABLE"
run get --secret-file "$work/wrong.secret" "$db?secret=env:OBOL_SECRET" a b
expect "a secret file and a secret= option together are a usage error" 2 "use one"
run get "redis://:hunter2hunter2@127.0.0.1:1/0" a b
expect "a password in a URL is refused before it is used (ps shows argv)" 2 "password=env:NAME"
check "and is not echoed" sh -c "! grep -q hunter2 '$work/err'"
run get "$db?map_sise=1GiB" a b
expect "a misspelt option is a usage error" 2 "map_sise"
run get "$db?driver_path=/tmp" a b
expect "driver_path, which the library refuses" 2 "driver directories are named in OBOL_DRIVER_PATH"
"$OBOL_BIN" export "$db" >"$work/after" 2>/dev/null
check "refused commands changed nothing in the store" same_sessions "$work/before" "$work/after"

# ------------------------------------------- a misspelt store creates nothing
# Commands that do not fill a store open only one that exists (create=0):
# a typo in the path is exit 7 naming it, and nothing appears on disk.
tpyo=lmdb://$work/tpyo
for command in "ls $tpyo alice" "get $tpyo sid alice" "export $tpyo" \
               "check $tpyo" "migrate $tpyo lmdb://$work/tpyo-copy" \
               "rm $tpyo sid alice" "rm-all $tpyo alice" "prune $tpyo" \
               "rekey $tpyo"; do
    set -f; set -- $command; set +f
    run "$@"
    expect "$1 of a misspelt LMDB path is exit 7" 7 "no LMDB environment at $work/tpyo (nothing was created)"
done
check "and none of them made the directory" test ! -e "$work/tpyo"
check "nor migrate's destination" test ! -e "$work/tpyo-copy"
mkdir "$work/empty-dir"
run ls "lmdb://$work/empty-dir" alice
expect "ls of a directory without an environment is exit 7" 7 "no LMDB environment at $work/empty-dir"
check "and leaves it empty" test -z "$(ls -A "$work/empty-dir")"
run ls "$db?create=1&prefix=made" alice
expect "create=1 in the URL still makes one" 0
run_in /dev/null import "lmdb://$work/made-by-import"
expect "import creates the store it fills" 0

# ---------------------------------------------- an empty prefix says so
run ls "$db?prefix=tpyo" alice
expect "ls of an empty prefix still answers" 0
check "with 0 sessions" grep -q "^0 sessions$" "$work/out"
check "and says the prefix holds nothing" grep -q "no records under prefix 'tpyo'; the backend has records under prefix" "$work/err"
check "naming the ones that do" grep -q "under prefix.* 'obol'" "$work/err"
run ls "$db" nobody
check "ls of an unknown user in a prefix with records says no more" test ! -s "$work/err"
run export "$db?prefix=tpyo"
expect "export of an empty prefix" 0 "no records under prefix 'tpyo'; the backend has records under prefix"
run check "$db?prefix=tpyo"
expect "check of an empty prefix" 0 "no records under prefix 'tpyo'"
run migrate "$db?prefix=tpyo" "lmdb://$work/other?prefix=never"
expect "migrate from an empty prefix" 0 "no records under prefix 'tpyo'"
run ls --all-types "lmdb://$work/made-by-import" alice
expect "ls --all-types of an empty store" 0 "no records under prefix 'obol'; the backend holds no records at all"

# ----------------------------------------------------------- secret files
printf '%s\n' "$OBOL_SECRET" >"$work/right.secret"
(unset OBOL_SECRET; "$OBOL_BIN" export --secret-file "$work/right.secret" "$db" >"$work/out" 2>"$work/err"); rc=$?
expect "--secret-file reads the secret from a file" 0
check "and verifies every record with it" same_sessions "$work/out" "$work/before"

# ------------------------------------------------------- export --output
(umask 000; "$OBOL_BIN" export --output "$work/export.jsonl" "$db" >"$work/out" 2>"$work/err"); rc=$?
expect "export --output writes a file" 0
check "created mode 0600 whatever the umask" test "$(stat -c %a "$work/export.jsonl")" = 600
check "holds the export" same_sessions "$work/export.jsonl" "$work/before"
check "and its summary went to standard output, as a result" \
    sh -c "grep -qx 'exported [0-9]* sessions; skipped 0 expired and 0 rejected records' '$work/out' && test \$(wc -l <'$work/out') -eq 1"
check "nothing to standard error" test ! -s "$work/err"
run export --json --output "$work/export.jsonl" "$db"
check "export --json --output prints the summary as JSON" \
    grep -q '^{"command":"export","exported":[0-9]*,"expired":0,"rejected":0}$' "$work/out"
echo "an older, readable file" >"$work/wide.jsonl"
chmod 644 "$work/wide.jsonl"
run export --output "$work/wide.jsonl" "$db"
expect "export --output over an existing file" 0
check "narrows a wider mode to 0600" test "$(stat -c %a "$work/wide.jsonl")" = 600
check "and replaces what it held" same_sessions "$work/wide.jsonl" "$work/before"
if [ "$(id -u)" = 0 ]; then
    echo "someone else's file" >"$work/theirs.jsonl"
    chown 1 "$work/theirs.jsonl"
    run export --output "$work/theirs.jsonl" "$db"
    expect "export --output refuses another user's file" 3 "belongs to another user"
    check "and leaves it as it was" grep -qx "someone else's file" "$work/theirs.jsonl"
fi
run export --output "$work/no/such/dir/x.jsonl" "$db"
expect "export --output into a missing directory is an output error" 3 "cannot open"
run get --output "$work/x.jsonl" "$db" a b
expect "--output is an option of export only" 2 "option of export"
if [ -w /dev/full ]; then
    run export --output /dev/full "$db"
    expect "export --output to a full disk says so" 3 "writing to '/dev/full': No space left"
    "$OBOL_BIN" export "$db" >/dev/full 2>"$work/err"; rc=$?
    expect "export to a full standard output says so" 3 "standard output: No space left"
    check "and does not blame memory" sh -c "! grep -q 'out of memory' '$work/err'"
fi

# ------------------------------------------------------------- migrate
run migrate --json "$db" "lmdb://$work/other?prefix=copy"
expect "migrate between prefixes" 0
check "migrate --json parses" json_lines "$work/out"
check "migrate --json has no float noise: seconds to the millisecond, whole rates" \
    no_float_noise "$work/out" seconds:3 sessions_per_second:0
check "migrate copied every session" test "$(field "$work/out" copied)" = 301
check "a migration that is not on a terminal draws no progress bar" sh -c "! grep -q ETA '$work/err'"
"$OBOL_BIN" export "lmdb://$work/other?prefix=copy" >"$work/copy.jsonl" 2>/dev/null
check "migrate keeps every field" same_sessions "$work/copy.jsonl" "$work/before"
run migrate "$db" "lmdb://$work/other?prefix=copy"
expect "migrate again" 0
"$OBOL_BIN" export "lmdb://$work/other?prefix=copy" >"$work/copy2.jsonl" 2>/dev/null
check "migrate is idempotent" same_sessions "$work/copy2.jsonl" "$work/before"
check "migrate prints its counts" grep -q "^copied 301, skipped 0 (expired), rejected 0" "$work/out"
run migrate --progress "$db" "lmdb://$work/other?prefix=copy"
check "--progress draws a bar with rate and ETA on stderr" grep -q "ETA" "$work/err"
run migrate --dst-secret-file "$work/wrong.secret" "$db" "lmdb://$work/other?prefix=rekeyed"
expect "migrate re-seals with the destination's own secret" 0
(OBOL_SECRET=$(cat "$work/wrong.secret"); export OBOL_SECRET
 "$OBOL_BIN" export "lmdb://$work/other?prefix=rekeyed" >"$work/rekeyed.jsonl" 2>/dev/null)
check "the destination's secret reads the copy" same_sessions "$work/rekeyed.jsonl" "$work/before"
run check "lmdb://$work/other?prefix=rekeyed"
expect "the source's secret does not" 6
(OBOL_SRC_SECRET=$(cat "$work/wrong.secret"); export OBOL_SRC_SECRET
 "$OBOL_BIN" migrate "lmdb://$work/other?prefix=rekeyed" "lmdb://$work/other?prefix=back" >"$work/out" 2>"$work/err"); rc=$?
expect "OBOL_SRC_SECRET keys the source" 0
"$OBOL_BIN" export "lmdb://$work/other?prefix=back" >"$work/back.jsonl" 2>/dev/null
check "and OBOL_SECRET the destination" same_sessions "$work/back.jsonl" "$work/before"

# ------------------------------ migrate and import in a mode: a cutover catch-up
mkdir "$work/cutover"
old="lmdb://$work/cutover?prefix=old"
new="lmdb://$work/cutover?prefix=new"

# put_new URL UID: a new session of UID in URL; prints its id.
put_new() {
    printf '{"user_id":"%s"}\n' "$2" >"$work/new-session.json"
    "$OBOL_BIN" put --json "$1" <"$work/new-session.json" >"$work/put.json" 2>/dev/null
    field "$work/put.json" id
}

# bump URL SID UID LOCK: the session written again under lock LOCK, as a
# refresh writes it; its lock_version becomes LOCK + 1.
bump() {
    printf '{"id":"%s","user_id":"%s","lock_version":%s}\n' "$2" "$3" "$4" >"$work/bump.json"
    "$OBOL_BIN" put "$1" <"$work/bump.json" >/dev/null 2>&1
}

# lock_in URL SID UID: the session's lock_version, or "missing".
lock_in() {
    if "$OBOL_BIN" get --json -- "$1" "$2" "$3" >"$work/got.json" 2>/dev/null; then
        field "$work/got.json" lock_version
    else
        echo missing
    fi
}

a=$(put_new "$old" alice)
b=$(put_new "$old" bob)
run migrate --only-newer --json "$old" "$new"
expect "migrate --only-newer into an empty store" 0
check "copies every session" test "$(field "$work/out" copied)" = 2
bump "$new" "$a" alice 1      # alice refreshed in the new store
bump "$old" "$b" bob 1        # bob still served by the old one
c=$(put_new "$old" carol)     # carol logged in there
run migrate --only-newer --json "$old" "$new"
expect "migrate --only-newer again, a catch-up" 0
check "--json counts copied and not newer" \
    test "$(field "$work/out" copied) $(field "$work/out" not_newer) $(field "$work/out" present)" = "2 1 0"
check "the session refreshed in the new store is not rolled back" test "$(lock_in "$new" "$a" alice)" = 2
check "the session newer in the old store is copied" test "$(lock_in "$new" "$b" bob)" = 2
check "the session missing in the new store is copied" test "$(lock_in "$new" "$c" carol)" = 1
bump "$old" "$b" bob 2
d=$(put_new "$old" dave)
run migrate --only-missing "$old" "$new"
expect "migrate --only-missing" 0
check "migrate --only-missing says what it left alone" \
    grep -q "^copied 1, skipped 0 (expired), left 3 alone (already in the destination), rejected 0" "$work/out"
check "it copies the missing session" test "$(lock_in "$new" "$d" dave)" = 1
check "and leaves a present one as it is, even older" test "$(lock_in "$new" "$b" bob)" = 2
run migrate --only-newer "$old" "$new"
check "migrate --only-newer says what it left alone" \
    grep -q "^copied 1, skipped 0 (expired), left 3 alone (as new or newer in the destination)" "$work/out"
run rm -- "$new" "$c" carol
run migrate --only-newer "$old" "$new"
check "a session deleted in the new store comes back (no tombstones: docs/SECURITY.md)" \
    test "$(lock_in "$new" "$c" carol)" = 1

"$OBOL_BIN" export "$new" >"$work/new-backup.jsonl" 2>/dev/null
bump "$new" "$a" alice 2
run_in "$work/new-backup.jsonl" import --only-newer "$new"
expect "import --only-newer of a backup over a live store" 0
check "import --only-newer says what it left alone" \
    grep -q "^imported 0 sessions (0 already expired: not written; 4 left alone: the store's is as new or newer)" "$work/out"
check "and rolls nothing back" test "$(lock_in "$new" "$a" alice)" = 3
run rm -- "$new" "$d" dave
run_in "$work/new-backup.jsonl" import --only-missing --json "$new"
expect "import --only-missing" 0
check "import --only-missing --json counts what it left alone" \
    test "$(field "$work/out" imported) $(field "$work/out" left_alone)" = "1 3"
check "it writes only the missing session" test "$(lock_in "$new" "$d" dave) $(lock_in "$new" "$a" alice)" = "1 3"
run_in "$work/new-backup.jsonl" import "$new"
expect "import without a mode replaces" 0
check "and rolls the refreshed session back" test "$(lock_in "$new" "$a" alice)" = 2

run migrate --only-missing --only-newer "$old" "$new"
expect "--only-missing with --only-newer is a usage error" 2 "exclude each other"
run export --only-newer "$old"
expect "--only-newer is an option of import and migrate only" 2 "import and migrate"

# ------------------------------------------------- legacy unsigned records
legacy=lmdb://$work/legacy
run_in "$work/many.jsonl" import "$legacy"
"$OBOL_BIN" export "$legacy" >"$work/legacy-before" 2>/dev/null
check "the legacy helper rewrites every record unsigned" sh -c "test \"\$('$UNSIGN' '$legacy?secret=env:OBOL_SECRET')\" = 300"
run export "$legacy"
expect "unsigned records are rejected by a strict store" 6
check "and not exported" test ! -s "$work/out"
run migrate "$legacy?allow_unsigned=1" "$legacy"
expect "migrate from allow_unsigned=1 upgrades them in place" 0
check "migrate warns about unsigned records, a few lines only" grep -q "more warnings not shown" "$work/err"
check "every unsigned record was copied" grep -q "^copied 300, skipped 0 (expired), rejected 0" "$work/out"
"$OBOL_BIN" export "$legacy" >"$work/legacy-after" 2>/dev/null
check "upgraded records verify and keep every field" same_sessions "$work/legacy-before" "$work/legacy-after"

# ------------------------------------------------------------ key rotation
rot=lmdb://$work/rotation
gen_sessions 40 10 >"$work/rot.jsonl"
run_in "$work/rot.jsonl" import "$rot"
expect "import into a store signing with key 1" 0
run check "$rot?key_id=2&old_key_ids=1"
expect "check of a store rotated to key 2 that keeps key 1" 0
check "check shows the signing key first and the old one's records" \
    grep -q "^key ids *key 2: 0 records (signing), key 1: 40 records (old)$" "$work/out"
run check --json "$rot?key_id=2&old_key_ids=1"
check "check --json counts the records of each key id" python3 -c '
import json, sys
keys = json.loads(open(sys.argv[1]).readline())["keys"]
ids = {k["key_id"]: (k["role"], k["records"]) for k in keys["ids"]}
assert ids == {1: ("old", 40), 2: ("signing", 0)}, ids
assert keys["records"] == 40 and keys["unsigned"] == 0 and keys["bad_seals"] == 0, keys
' "$work/out"
run check "$rot?key_id=2"
expect "check of a store that dropped key 1 too early" 6
check "check says the retired key's records are refused" \
    grep -q "key 1: 40 records (unknown: refused)" "$work/out"
run rekey "$rot?key_id=2"
expect "rekey cannot rewrite records under a retired key" 6
check "and counts them rejected" grep -q "rejected 40 (did not verify) of 40 records" "$work/out"
run rekey "$rot?key_id=2&old_key_ids=1"
expect "rekey" 0
check "rekey prints its counts" grep -q "^rewrote 40, already current 0, skipped 0 (a concurrent write won), expired 0, rejected 0 (did not verify) of 40 records" "$work/out"
check "a rekey that is not on a terminal draws no progress bar" sh -c "! grep -q ETA '$work/err'"
run rekey --json "$rot?key_id=2&old_key_ids=1"
expect "rekey again" 0
check "rekey --json has no float noise" no_float_noise "$work/out" seconds:3 records_per_second:0
check "rekey again finds every record current" \
    test "$(field "$work/out" rewritten) $(field "$work/out" current)" = "0 40"
run check "$rot?key_id=2"
expect "after the rekey key 1 can be retired" 0
check "every record is on key 2" grep -q "^key ids *key 2: 40 records (signing)$" "$work/out"
"$OBOL_BIN" export "$rot?key_id=2" >"$work/rot-after.jsonl" 2>/dev/null
check "rekey keeps every field and lock version" same_sessions "$work/rot.jsonl" "$work/rot-after.jsonl"
run rekey --progress "$rot?key_id=2"
check "rekey --progress draws a bar on stderr" grep -q "ETA" "$work/err"
run get --progress "$rot" a b
expect "--progress is an option of migrate and rekey only" 2 "migrate and rekey"
run rekey "$rot?key_id=2&old_key_ids=2"
expect "an old key id equal to the signing one is a usage error" 2 "signing one"
run rekey "$rot?key_id=2&old_secrets=1:hunter2hunter2"
expect "an old secret written into the string is a usage error" 2 "ID:env:NAME"
check "and is not echoed" sh -c "! grep -q hunter2 '$work/err'"
(unset OBOL_SECRET; "$OBOL_BIN" rekey "$rot" >"$work/out" 2>"$work/err"); rc=$?
expect "rekey without a secret is a key error" 5 "OBOL_SECRET"
(OBOL_SECRET="a secret of 31 bytes, too short"; export OBOL_SECRET
 "$OBOL_BIN" check "$rot" >"$work/out" 2>"$work/err"); rc=$?
expect "a secret shorter than 32 bytes is a key error" 5 "31 bytes is too short (at least 32"
# Replacing the secret: the new one signs with key 3, the old one (key 2)
# verifies until the rekey has rewritten everything.
echo "the replacement secret, as long as the old one" >"$work/new.secret"
(OBOL_OLD_SECRET=$OBOL_SECRET; export OBOL_OLD_SECRET
 "$OBOL_BIN" rekey --secret-file "$work/new.secret" "$rot?key_id=3&old_secrets=2:env:OBOL_OLD_SECRET" >"$work/out" 2>"$work/err"); rc=$?
expect "rekey onto a new secret, the old one listed in old_secrets" 0
check "rewrites every record" grep -q "^rewrote 40, already current 0" "$work/out"
run check --secret-file "$work/new.secret" "$rot?key_id=3"
expect "the new secret alone reads the store" 0
check "every record is on key 3" grep -q "^key ids *key 3: 40 records (signing)$" "$work/out"
run check "$rot?key_id=2"
expect "the old secret reads nothing any more" 6

# ------------------------------------------- the words of every run above
words_are_the_tools

done_testing
