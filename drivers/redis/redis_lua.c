/* The Lua scripts of the driver, kept apart from the code that runs them so
 * that the benchmark can run the very same text through raw hiredis. */
#include "config.h"

#include "redis_lua.h"

/*
 * Helpers shared by the scripts (KEYS: rec, exp, lock).
 *
 * settle() moves the expiry of all three keys to just after the latest
 * expires_at among the members (a record is live through its last second,
 * hence the + 1), so Redis frees a user's keys by itself; it deletes the
 * keys once no member is left. A score of +inf (expires_at INT64_MAX) or
 * one past the year 9999, which EXPIREAT cannot take, keeps the keys
 * forever. Scores are doubles, exact for every time below 2^53 seconds.
 *
 * drop_dead() removes at most `limit` members whose score is below now, so
 * that one script never blocks the server for long, and returns how many
 * it found and how many of them were records (HDEL of rec: a count taken
 * by the removal itself, for prune_counted).
 */
#define LUA_HELPERS \
    "local function settle(rec, exp, lock)\n" \
    "  local top = redis.call('ZREVRANGE', exp, 0, 0, 'WITHSCORES')\n" \
    "  if #top == 0 then\n" \
    "    redis.call('DEL', rec, exp, lock)\n" \
    "    return\n" \
    "  end\n" \
    "  local last = tonumber(top[2])\n" \
    "  if top[2] == 'inf' or last == nil or last >= 253402300799 then\n" \
    "    redis.call('PERSIST', rec)\n" \
    "    redis.call('PERSIST', exp)\n" \
    "    redis.call('PERSIST', lock)\n" \
    "  else\n" \
    "    local at = string.format('%d', last + 1)\n" \
    "    redis.call('EXPIREAT', rec, at)\n" \
    "    redis.call('EXPIREAT', exp, at)\n" \
    "    redis.call('EXPIREAT', lock, at)\n" \
    "  end\n" \
    "end\n" \
    "local function drop_dead(rec, exp, lock, now, limit)\n" \
    "  local dead = redis.call('ZRANGEBYSCORE', exp, '-inf', '(' .. now,\n" \
    "                          'LIMIT', 0, limit)\n" \
    "  local gone = 0\n" \
    "  if #dead > 0 then\n" \
    "    gone = redis.call('HDEL', rec, unpack(dead))\n" \
    "    redis.call('HDEL', lock, unpack(dead))\n" \
    "    redis.call('ZREM', exp, unpack(dead))\n" \
    "  end\n" \
    "  return #dead, gone\n" \
    "end\n"

/* Lock check of driver.h: a missing record, and one whose expires_at is
 * before now, has lock version 0. Lock versions are compared as the
 * decimal strings they are stored as, since Lua numbers are doubles and a
 * uint64_t does not fit one. */
static const char upsert_source[] =
    LUA_HELPERS
    "local id, now = ARGV[1], ARGV[6]\n"
    "local score = redis.call('ZSCORE', KEYS[2], id)\n"
    "local current = '0'\n"
    "if score and (score == 'inf' or tonumber(score) >= tonumber(now)) then\n"
    "  current = redis.call('HGET', KEYS[3], id) or '0'\n"
    "end\n"
    "if current ~= ARGV[4] then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], id, ARGV[2])\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], id)\n"
    "redis.call('HSET', KEYS[3], id, ARGV[5])\n"
    "drop_dead(KEYS[1], KEYS[2], KEYS[3], now, 100)\n"
    "settle(KEYS[1], KEYS[2], KEYS[3])\n"
    "return 1\n";

/* The upsert of several sessions of one (user, type) in one call, each
 * decided in order exactly as upsert_source decides one, so that a batch
 * pays one script call per user instead of one per session. */
static const char upsert_many_source[] =
    LUA_HELPERS
    "local now = ARGV[1]\n"
    "local out, wrote = {}, false\n"
    "for i = 2, #ARGV, 5 do\n"
    "  local id = ARGV[i]\n"
    "  local score = redis.call('ZSCORE', KEYS[2], id)\n"
    "  local current = '0'\n"
    "  if score and (score == 'inf' or tonumber(score) >= tonumber(now)) then\n"
    "    current = redis.call('HGET', KEYS[3], id) or '0'\n"
    "  end\n"
    "  if current ~= ARGV[i + 3] then\n"
    "    out[#out + 1] = 0\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], id, ARGV[i + 1])\n"
    "    redis.call('ZADD', KEYS[2], ARGV[i + 2], id)\n"
    "    redis.call('HSET', KEYS[3], id, ARGV[i + 4])\n"
    "    out[#out + 1] = 1\n"
    "    wrote = true\n"
    "  end\n"
    "end\n"
    "if wrote then\n"
    "  drop_dead(KEYS[1], KEYS[2], KEYS[3], now, 100)\n"
    "  settle(KEYS[1], KEYS[2], KEYS[3])\n"
    "end\n"
    "return out\n";

/* Answers whether a record was there: HDEL of rec, as DEL answers. */
static const char delete_source[] =
    LUA_HELPERS
    "local id = ARGV[1]\n"
    "local removed = redis.call('HDEL', KEYS[1], id)\n"
    "local touched = removed + redis.call('ZREM', KEYS[2], id) +\n"
    "                redis.call('HDEL', KEYS[3], id)\n"
    "if touched > 0 then\n"
    "  settle(KEYS[1], KEYS[2], KEYS[3])\n"
    "end\n"
    "return removed\n";

/* The count and the DEL in one script, so that nothing comes between. */
static const char delete_all_source[] =
    "local removed = redis.call('HLEN', KEYS[1])\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "return removed\n";

static const char list_source[] =
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local out = {}\n"
    "for i = 1, #all, 2 do\n"
    "  local id = all[i]\n"
    "  out[#out + 1] = id\n"
    "  out[#out + 1] = all[i + 1]\n"
    "  out[#out + 1] = redis.call('ZSCORE', KEYS[2], id) or ''\n"
    "  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''\n"
    "end\n"
    "return out\n";

static const char prune_source[] =
    LUA_HELPERS
    "local removed, n, gone = 0, 0, 0\n"
    "repeat\n"
    "  n, gone = drop_dead(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 1000)\n"
    "  removed = removed + gone\n"
    "until n < 1000\n"
    "if removed > 0 then\n"
    "  settle(KEYS[1], KEYS[2], KEYS[3])\n"
    "end\n"
    "return removed\n";

static const char *const sources[REDIS_SCRIPT_COUNT] = {
    upsert_source, delete_source, list_source, prune_source,
    upsert_many_source, delete_all_source
};

const char *redis_lua_source(redis_script_id id)
{
    return sources[id];
}

