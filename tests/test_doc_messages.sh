#!/bin/sh
# The documentation says what the code does. The example messages of
# README.md, docs/CONFIG.md and obol-config(5) are what the code prints:
# each is provoked (tests/config_message.c opens a store on a config
# string) and compared word for word, a "..." standing for what the
# example leaves out; every message line of CONFIG.md's and the man page's
# example blocks is one of them. And README.md's documentation list names
# every page of docs/. TAP output.
set -u
: "${OBOL_TEST_BUILDDIR:?run through make check}"
top_srcdir=$(cd "${srcdir:-.}" && pwd)
message="$OBOL_TEST_BUILDDIR/tests/config_message"
work=$(mktemp -d "${TMPDIR:-/tmp}/obol-doc-messages.XXXXXX")
trap 'rm -rf "$work"' EXIT
: >"$work/checked"

# The secrets the key examples read; OLD is unset on purpose.
OBOL_DOC_SECRET=12345678901234567890
export OBOL_DOC_SECRET
unset OLD

number=0
# DOC as one line, so that a message the text wraps is found whole.
joined() {
    tr '\n' ' ' <"$top_srcdir/$1" | tr -s ' '
}

# expect DOC TEXT ARGS...: DOC holds TEXT, and config_message ARGS prints
# it, a "..." in TEXT standing for whatever the example leaves out. With
# as_documented=REAL|DOC set, the REAL path in the message reads as the
# example's DOC path.
expect() {
    doc=$1 text=$2
    shift 2
    number=$((number + 1))
    printf '%s\n' "$text" >>"$work/checked"
    got=$("$message" "$@" 2>&1)
    if [ -n "${as_documented:-}" ]; then
        got=$(printf '%s' "$got" | sed "s|$as_documented|")
    fi
    pattern=$(printf '%s' "$text" | sed 's/[][*?\\]/\\&/g; s/\.\.\./*/g')
    matches() {
        # shellcheck disable=SC2254 # the pattern is meant to match
        case "$got" in $pattern) true ;; *) false ;; esac
    }
    if ! joined "$doc" | grep -qF -- "$text"; then
        echo "not ok $number - $doc: $text"
        echo "# $doc does not hold it"
    elif matches; then
        echo "ok $number - $doc: $text"
    else
        echo "not ok $number - $doc: $text"
        echo "# the code prints: $got"
    fi
}

long_type=$(printf 'x%.0s' $(seq 256))
many_types=$(seq -s, -f 't%g' 33)
lmdb="lmdb://$work/lmdb"

echo "1..39"
expect README.md "lmdb: unknown option \"map_sise\" (known: ...)" "$lmdb?map_sise=1GiB"
expect README.md "no driver for scheme 'mysql': ..." 'mysql://db1'

C=docs/CONFIG.md
expect $C "config: scheme 'LMDB' must be lower-case letters, digits and '+', starting with a letter" 'LMDB:///x'
expect $C "config: port '99999' is not a number from 1 to 65535" 'redis://h:99999'
expect $C "config: option 'prefix' is given twice" 'memory:?prefix=a&prefix=b'
expect $C "config: '#' at character 17 starts a URL fragment, which obol does not accept (write a '#' in a value as %23)" 'memory:?prefix=a#&seal=aead'
expect $C "lmdb: unknown option \"map_sise\" (known: map_size, ...)" "$lmdb?map_sise=1GiB"
expect $C "get: session not found: record refused: record of 200000 bytes is over max_record (88538)" --oversized memory: 200000
expect $C "config: option 'max_record' (65536 bytes) is below the largest record this store can write (70831 bytes with max_payload=65536)" 'memory:?max_record=65536'
expect $C "config: option 'types': type 2 is empty (write types=full,oauth2,...)" 'memory:?types=full,,api'
expect $C "config: option 'types' lists 'oauth2' twice" 'memory:?types=oauth2,full,oauth2'
expect $C "config: option 'types' lists 33 types; at most 32" "memory:?types=$many_types"
expect $C "config: option 'types': type 1 is longer than 255 bytes" "memory:?types=$long_type"
expect $C "secret: 20 bytes is too short (at least 32; to retire a shorter one, list it in old_secrets= and set a new secret)" 'memory:?secret=env:OBOL_DOC_SECRET'
expect $C "config: option 'old_key_ids': 'x' is not a key id from 0 to 4294967295" 'memory:?old_key_ids=x'
expect $C "config: option 'old_key_ids' lists key id 1 twice" 'memory:?secret=env:S&old_key_ids=1,1'
expect $C "config: option 'old_key_ids' lists key id 2, which is key_id, the signing one (a new key needs a new key id)" 'memory:?secret=env:S&key_id=2&old_key_ids=2'
expect $C "config: key id 3 is listed in both 'old_key_ids' and 'old_secrets'" 'memory:?secret=env:S&old_key_ids=3&old_secrets=3:env:OLD'
expect $C "config: option 'old_secrets': entry 2 must be ID:env:NAME or ID:file:PATH (secrets never sit in the config string)" 'memory:?old_secrets=1:env:A,hunter2'
expect $C "config: option 'old_key_ids' derives keys from the base secret, but no secret= is given" 'memory:?old_key_ids=1'
expect $C "config: options 'old_key_ids' and 'old_secrets' list 17 old keys together; at most 16" \
    "memory:?secret=env:S&old_key_ids=$(seq -s, 10 18)&old_secrets=$(seq -s, -f '%g:env:A' 1 8)"
expect $C "old_secrets: key id 3: secret: environment variable OLD is not set" 'memory:?old_secrets=3:env:OLD'
# /data/tpyo exists nowhere, and create=0 creates nothing.
expect $C "lmdb: no LMDB environment at /data/tpyo (nothing was created)" 'lmdb:///data/tpyo?create=0'
mkdir "$work/foreign"
"$OBOL_TEST_BUILDDIR/tests/lmdb_records" --make-foreign "$work/foreign"
as_documented="$work/foreign|/data/other-app"
expect $C "lmdb: the LMDB environment at /data/other-app holds no obol store (nothing was created)" "lmdb://$work/foreign?create=0"
as_documented=
expect $C "memory: no space named 'suite' is open in this process (nothing was created)" 'memory:suite?create=0'
expect $C "store_open: the store has no signing key (require_key=1 refuses it: give secret=, or open without require_key=1 and call obol_store_add_key)" 'memory:?require_key=1'

M=man/obol-config.5
expect $M "config: scheme 'LMDB' must be lower-case letters, digits and '+', starting with a letter" 'LMDB:///x'
expect $M "config: port '99999' is not a number from 1 to 65535" 'redis://h:99999'
expect $M "config: option 'prefix' is given twice" 'memory:?prefix=a&prefix=b'
expect $M "config: option 'types' lists 'oauth2' twice" 'memory:?types=oauth2,full,oauth2'
expect $M "lmdb: unknown option \"map_sise\" (known: map_size, ...)" "$lmdb?map_sise=1GiB"
expect $M "redis config: option 'tls_ca' is for TLS only (rediss://, rediss+cluster://, rediss+sentinel://)" 'redis://h?tls_ca=/etc/ca.pem'
expect $M "memory: unknown option 'max_recods' (the only option is max_records)" 'memory:?max_recods=5'
expect $M "no driver for scheme 'mysql': mysql.so is in none of ..." 'mysql://db1'
expect $M "lmdb: no LMDB environment at /data/tpyo (nothing was created)" 'lmdb:///data/tpyo?create=0'
expect $M "memory: no space named 'suite' is open in this process (nothing was created)" 'memory:suite?create=0'
expect $M "store_open: the store has no signing key (require_key=1 refuses it: give secret=, or open without require_key=1 and call obol_store_add_key)" 'memory:?require_key=1'

# Every message line of the example blocks was checked above.
unchecked=$( {
    awk '/^```/ { fenced = !fenced; next } fenced' "$top_srcdir/$C"
    awk '/^\.SH ERRORS/ { here = 1 } /^\.SH / && !/ERRORS/ { here = 0 }
         here && /^\.nf/ { block = 1; next } /^\.fi/ { block = 0 }
         here && block' "$top_srcdir/$M"
} | grep -E '^(config|lmdb|redis config|memory|secret|old_secrets|store_open): |^no driver ' |
    grep -vxF -f "$work/checked")
number=$((number + 1))
if [ -z "$unchecked" ]; then
    echo "ok $number - every example message of CONFIG.md and obol-config(5) is checked"
else
    echo "not ok $number - every example message of CONFIG.md and obol-config(5) is checked"
    printf '%s\n' "$unchecked" | sed 's/^/# not checked: /'
fi

unlisted=$(for page in "$top_srcdir"/docs/*.md; do
    name=$(basename "$page")
    sed -n '/^## Documentation/,/^## /p' "$top_srcdir/README.md" |
        grep -qF "(docs/$name)" || echo "$name"
done)
number=$((number + 1))
if [ -z "$unlisted" ]; then
    echo "ok $number - README.md's documentation list names every page of docs/"
else
    echo "not ok $number - README.md's documentation list names every page of docs/"
    printf '%s\n' "$unlisted" | sed 's/^/# not listed: /'
fi
