//! The Lua scripts that make each engine operation atomic in Redis.
//!
//! Times are Redis's own clock (`TIME`), so every node agrees on when an entry expires
//! whatever its own clock says. Keys are passed as `KEYS` (all of one channel, so on one
//! shard); numbers travel as decimal strings.

use redis::Script;

/// Appends a publication and sends it to every node, in one step, so that offsets reach
/// nodes in the order Redis assigned them.
///
/// KEYS: meta, history. ARGV: pub/sub channel, body, history size, history TTL (ms),
/// meta TTL (ms), an epoch to start the stream with if it does not exist.
/// Returns `{offset, epoch}`.
const PUBLISH: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[6]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 's', 1)
local size = tonumber(ARGV[3])
if size > 0 then
  local now = redis.call('TIME')
  local expires = now[1] * 1000 + math.floor(now[2] / 1000) + tonumber(ARGV[4])
  redis.call('XADD', KEYS[2], 'MAXLEN', size, offset .. '-0', 'b', ARGV[2], 'x', expires)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
redis.call('PUBLISH', ARGV[1], 'p' .. offset .. ' ' .. epoch .. '\n' .. ARGV[2])
return {offset, epoch}
";

/// Reads a stream's position, creating the stream (with the given epoch) if it does not
/// exist, and optionally entries: `since` the client's offset (only when its epoch is the
/// stream's and the offset is not ahead), or the `top` N.
///
/// KEYS: meta, history. ARGV: new epoch, idle stream TTL (ms), mode (`position`, `since`,
/// `top`), the offset (since) or count (top), the client's epoch (since).
/// Returns `{top, epoch, now_ms, entries}`, entries as XRANGE gives them (newest first for
/// `top`).
const STREAM: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'e')
local top = 0
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
else
  top = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
end
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local entries = {}
if ARGV[3] == 'since' then
  local from = tonumber(ARGV[4])
  if ARGV[5] == epoch and from < top then
    entries = redis.call('XRANGE', KEYS[2], (from + 1) .. '-0', '+')
  end
elseif ARGV[3] == 'top' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])
end
return {top, epoch, now_ms, entries}
";

/// Adds or refreshes a presence entry.
///
/// KEYS: presence, presence expiry. ARGV: client id, info JSON, TTL (ms).
const PRESENCE_ADD: &str = r"
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
";

/// Removes a presence entry.
///
/// KEYS: presence, presence expiry. ARGV: client id.
const PRESENCE_REMOVE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
";

/// Drops expired presence entries (their node stopped refreshing them: it died) and
/// returns the live ones' info JSON.
///
/// KEYS: presence, presence expiry.
const PRESENCE_LIST: &str = r"
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms)
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[1], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
return redis.call('HVALS', KEYS[1])
";

/// The scripts, loaded once per engine (`EVALSHA`, falling back to `EVAL` after a Redis
/// restart forgot them).
pub(crate) struct Scripts {
    pub(crate) publish: Script,
    pub(crate) stream: Script,
    pub(crate) presence_add: Script,
    pub(crate) presence_remove: Script,
    pub(crate) presence_list: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            publish: Script::new(PUBLISH),
            stream: Script::new(STREAM),
            presence_add: Script::new(PRESENCE_ADD),
            presence_remove: Script::new(PRESENCE_REMOVE),
            presence_list: Script::new(PRESENCE_LIST),
        }
    }
}
