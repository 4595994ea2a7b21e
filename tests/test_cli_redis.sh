#!/bin/sh
# The obol tool end to end on a private redis-server that requires a
# password: every command, a password in the URL refused (ps shows argv),
# an unreachable server, and 10,000 sessions of 1,000 users migrated
# redis -> lmdb -> redis keeping every field byte for byte, with the
# migration rates reported as TAP comments. TAP output.
srcdir=${srcdir:-.}
. "$srcdir/tests/cli_lib.sh"

redis_password="cli-test-redis-password"
start_redis "$redis_password"
rs=$redis_url/0?$redis_auth\&prefix=cli

# ------------------------------------------------- the password stays out of ps
run get "redis://:$redis_password@127.0.0.1:$redis_port/0?prefix=cli" a b
expect "a password in the URL is refused, though it is right" 2 "password=env:NAME or password=file:PATH"
check "and not echoed" sh -c "! grep -q '$redis_password' '$work/err'"
run get "redis://default:$redis_password@127.0.0.1:$redis_port/0" a b
expect "so is user:password in the URL" 2 "read in ps"
run migrate "$rs" "redis+sentinel://:$redis_password@127.0.0.1:$redis_port/mymaster"
expect "and a password in a Sentinel URL" 2 "sentinel_password=env:NAME"
check "nothing is echoed of it" sh -c "! grep -q '$redis_password' '$work/err'"
run get "redis://127.0.0.1:$redis_port/0?password=$redis_password" a b
expect "a password written as the option's value is refused by the driver" 2 "env:NAME or file:PATH"
run get "redis://127.0.0.1:$redis_port/0?timeout_ms=2000" a b
expect "without the password the server refuses" 3
printf '%s\n' "$redis_password" >"$work/redis.password"
run get "redis://127.0.0.1:$redis_port/0?password=file:$work/redis.password" a b
expect "password=file:PATH gives it" 1 "not found"
run get "redis://default@127.0.0.1:$redis_port/0?$redis_auth" a b
expect "a user in the URL with password=env:NAME" 1 "not found"

# ------------------------------------------------------ every command on Redis
echo '{"user_id":"alice","extra_payload":"aGVsbG8="}' >"$work/new.json"
run_in "$work/new.json" put --json "$rs"
expect "put on redis" 0
sid=$(field "$work/out" id)
cp "$work/out" "$work/alice.json"
run get --json -- "$rs" "$sid" alice
expect "get on redis" 0
check "get returns what put stored" same_sessions "$work/out" "$work/alice.json"
printf '{"id":"%s","user_id":"alice","lock_version":1,"refresh_token_id":"rotated"}\n' "$sid" >"$work/update.json"
run_in "$work/update.json" put "$rs"
expect "put updates under the lock on redis" 0
run_in "$work/update.json" put "$rs"
expect "a stale lock is a conflict on redis" 4
echo '{"user_id":"alice","type":"oauth2"}' >"$work/oauth.json"
run_in "$work/oauth.json" put "$rs"
run ls "$rs" alice
expect "ls on redis" 0
check "ls shows alice's full session" grep -q "^1 session$" "$work/out"
run ls --json --all-types "$rs" alice
check "ls --all-types on redis" count_lines "$work/out" 2
run check --json "$rs"
expect "check on redis" 0
check "check names the redis driver" grep -q '"driver":"redis"' "$work/out"
run export "$rs"
expect "export on redis" 0
check "export on redis writes both sessions" count_lines "$work/out" 2
cp "$work/out" "$work/small.jsonl"
echo "another secret, of enough length to sign" >"$work/wrong.secret"
run get --secret-file "$work/wrong.secret" -- "$rs" "$sid" alice
expect "get with the wrong secret on redis is status 6" 6 "1 record refused, not shown: MAC mismatch"
run ls --secret-file "$work/wrong.secret" "$rs" alice
expect "so is ls" 6 "1 record refused, not listed"
run rm-all "$rs" alice oauth2
expect "rm-all on redis" 0
check "rm-all on redis says how many it removed" grep -qx "removed 1 session" "$work/out"
run rm -- "$rs" "$sid" alice
expect "rm on redis" 0
check "rm on redis says it removed one" grep -qx "removed 1 session" "$work/out"
run rm --json -- "$rs" "$sid" alice
check "and then none" grep -q '"removed":0' "$work/out"
run get -- "$rs" "$sid" alice
expect "a removed session is gone from redis" 1
echo '{"user_id":"bob"}' >"$work/bob.json"
run_in "$work/bob.json" put "$rs"
run_in "$work/bob.json" put --ttl 0 --refresh-ttl 0 "$rs"
sleep 1.1   # bob's second session dies; his live one keeps the key
run prune "$rs"
expect "prune on redis" 0
check "prune on redis says how many expired records it removed" grep -qx "removed 1 expired record" "$work/out"
run rm-all "$rs" bob
check "rm-all counts bob's live session" grep -qx "removed 1 session" "$work/out"
run_in "$work/small.jsonl" import "$rs"
expect "import on redis" 0
"$OBOL_BIN" export "$rs" >"$work/back.jsonl" 2>/dev/null
check "import restores the exported sessions exactly" same_sessions "$work/small.jsonl" "$work/back.jsonl"

# ----------------------------------------------------- failures change nothing
closed=$(free_port)
run get "redis://127.0.0.1:$closed/0?timeout_ms=500" a b
expect "an unreachable redis is a backend error" 3 "127.0.0.1:$closed"
run get "redis://127.0.0.1:$closed/0?timeout_ms=500&connect=lazy" a b
expect "with connect=lazy the call, not the open, is the backend error" 3 "127.0.0.1:$closed: connect: Connection refused"
run ls "redis://127.0.0.1:$closed/0?timeout_ms=500&connect=lazy" a
expect "and so is ls" 3 "Connection refused"
run_in "$work/small.jsonl" import "redis://127.0.0.1:$closed"
expect "import into an unreachable redis is a backend error" 3
run migrate "$rs" "redis://127.0.0.1:$closed"
expect "migrate to an unreachable redis is a backend error" 3
printf '%s\n' '{"id":"x","user_id":"y","type":"full"' >"$work/bad.jsonl"
run_in "$work/bad.jsonl" import "$rs"
expect "malformed JSON into redis" 2 "line 1: malformed JSON"
(unset OBOL_SECRET; "$OBOL_BIN" import "$rs" <"$work/small.jsonl" >"$work/out" 2>"$work/err"); rc=$?
expect "import into redis without a secret" 5 "OBOL_SECRET"
(unset OBOL_SECRET; "$OBOL_BIN" migrate "lmdb://$work" "$rs" >"$work/out" 2>"$work/err"); rc=$?
expect "migrate without a secret" 5
"$OBOL_BIN" export "$rs" >"$work/after.jsonl" 2>/dev/null
check "the failures changed nothing in redis" same_sessions "$work/small.jsonl" "$work/after.jsonl"

# ------------------------------------- 10,000 sessions: redis -> lmdb -> redis
gen_sessions 10000 1000 >"$work/10k.jsonl"
from=$redis_url/0?$redis_auth\&prefix=from
to=$redis_url/0?$redis_auth\&prefix=to
mkdir "$work/lmdb"
run_in "$work/10k.jsonl" import "$from"
expect "import 10,000 sessions into redis" 0
"$OBOL_BIN" export "$from" >"$work/from.jsonl" 2>/dev/null
check "redis holds the 10,000 sessions exactly" same_sessions "$work/10k.jsonl" "$work/from.jsonl"

run migrate --json "$from" "lmdb://$work/lmdb"
expect "migrate redis -> lmdb" 0
check "redis -> lmdb copied 10,000" test "$(field "$work/out" copied)" = 10000
echo "# redis -> lmdb: $(field "$work/out" sessions_per_second | cut -d. -f1) sessions/s (10,000 sessions)"
"$OBOL_BIN" export "lmdb://$work/lmdb" >"$work/lmdb.jsonl" 2>/dev/null
check "lmdb holds every field of every session" same_sessions "$work/10k.jsonl" "$work/lmdb.jsonl"

run migrate --json "lmdb://$work/lmdb" "$to"
expect "migrate lmdb -> redis" 0
check "lmdb -> redis copied 10,000" test "$(field "$work/out" copied)" = 10000
echo "# lmdb -> redis: $(field "$work/out" sessions_per_second | cut -d. -f1) sessions/s (10,000 sessions)"
"$OBOL_BIN" export "$to" >"$work/to.jsonl" 2>/dev/null
check "back in redis, every field of every session is the same" same_sessions "$work/10k.jsonl" "$work/to.jsonl"

run migrate "lmdb://$work/lmdb" "$to"
expect "migrating again" 0
"$OBOL_BIN" export "$to" >"$work/to2.jsonl" 2>/dev/null
check "changes nothing: migrate is idempotent" same_sessions "$work/10k.jsonl" "$work/to2.jsonl"
run ls --json "$to" user-1 oauth2
check "the migrated store answers per user" count_lines "$work/out" 4

# ---------------------------------------------- legacy unsigned records on redis
check "the legacy helper rewrites redis records unsigned" sh -c "test \"\$('$UNSIGN' '$from&secret=env:OBOL_SECRET')\" = 10000"
run check "$from"
expect "a strict store rejects them" 6
run check --json --sample 50 "$from"
check "check --sample 50 of 10,000 refused records stops after 50" python3 -c '
import json, sys
sample = json.loads(open(sys.argv[1]).readline())["sample"]
assert sample["records"] == 50 and sample["rejected"] == 50, sample
' "$work/out"
run migrate "$from&allow_unsigned=1" "$from"
expect "migrate from allow_unsigned=1 seals them in place" 0
"$OBOL_BIN" export "$from" >"$work/sealed.jsonl" 2>/dev/null
check "the sealed records keep every field" same_sessions "$work/10k.jsonl" "$work/sealed.jsonl"

# ------------------------------------------- the words of every run above
words_are_the_tools

done_testing
