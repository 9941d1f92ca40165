"""The leash's Lua scripts: each is one atomic step on one tenant's keys.

Times are Redis `TIME` in integer microseconds, durations in integer milliseconds (exact as Lua
numbers and in `HINCRBY`). The ledger's day is `floor(unix seconds / 86400)`, by the same clock.
A script reads the hashes of the tenant's other live calls by a key prefix passed in ARGV: they
share the tenant's hash tag, so they sit in the same cluster slot as the declared keys.

KEYS, in every script that takes them: live (zset call -> deadline + grace), deadlines (zset
call -> deadline), ledger (hash `day:calls|ms|tin|tout`), call (hash of one call).
"""

from __future__ import annotations

# Audio milliseconds a live call has used so far: the provider's figure when it sent one,
# else the gateway's clock since the call started.
_HELPERS = """
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2]), tonumber(t[1])
end
local function live_ms(key, now)
  local h = redis.call('HMGET', key, 'audio_ms', 'started')
  if h[1] then return tonumber(h[1]) end
  if h[2] then return math.floor((now - tonumber(h[2])) / 1000) end
  return 0
end
local function spent_ms(live_key, ledger_key, prefix, now, day)
  local spent = tonumber(redis.call('HGET', ledger_key, day .. ':ms') or '0')
  for _, id in ipairs(redis.call('ZRANGE', live_key, 0, -1)) do
    spent = spent + live_ms(prefix .. id, now)
  end
  return spent
end
"""

# ARGV: cap, max_call_us, budget_ms (-1: none), grace_us, call_id, call key prefix, keep_s
ADMIT = (
    _HELPERS
    + """
local now, unix = now_us()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
if live >= tonumber(ARGV[1]) then return {0, 'too_many_calls', live} end
local budget = tonumber(ARGV[3])
if budget >= 0 then
  local day = math.floor(unix / 86400)
  if spent_ms(KEYS[1], KEYS[3], ARGV[6], now, day) >= budget then
    return {0, 'quota_exceeded', 86400 - unix % 86400}
  end
end
local deadline = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], deadline + tonumber(ARGV[4]), ARGV[5])
redis.call('ZADD', KEYS[2], deadline, ARGV[5])
redis.call('HSET', KEYS[4], 'started', now, 'deadline', deadline, 'state', 'live',
           'tin', 0, 'tout', 0)
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[7]))
return {1, now, deadline}
"""
)

# ARGV: provider, provider call id
ATTACH = """
if redis.call('HGET', KEYS[1], 'state') ~= 'live' then return 0 end
redis.call('HSET', KEYS[1], 'provider', ARGV[1], 'pcall', ARGV[2])
return 1
"""

# ARGV: call_id
RELEASE = """
if redis.call('HGET', KEYS[4], 'state') ~= 'live' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"""

# ARGV: cumulative audio ms (-1: not given), tokens in, tokens out
ADD_USAGE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'live' then return 0 end
local audio = tonumber(ARGV[1])
if audio >= 0 then
  local before = tonumber(redis.call('HGET', KEYS[1], 'audio_ms') or '-1')
  if audio > before then redis.call('HSET', KEYS[1], 'audio_ms', audio) end
end
redis.call('HINCRBY', KEYS[1], 'tin', tonumber(ARGV[2]))
redis.call('HINCRBY', KEYS[1], 'tout', tonumber(ARGV[3]))
return 1
"""

# ARGV: reason, claim_us. Before the gateway hangs a call up: the provider will close the
# sideband next, and that close must be counted under this reason, not `provider_closed`.
MARK_ENDING = """
if redis.call('HGET', KEYS[1], 'state') ~= 'live' then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('HSET', KEYS[1], 'claim', now + tonumber(ARGV[2]), 'claim_reason', ARGV[1])
return 1
"""

# ARGV: reason, final audio ms (-1: not given), call_id, keep_s
# A `provider_closed` end while a hang-up is under way takes the hang-up's reason.
END = (
    _HELPERS
    + """
if redis.call('HGET', KEYS[4], 'state') ~= 'live' then return {0} end
local now, unix = now_us()
local reason = ARGV[1]
if reason == 'provider_closed' then
  local c = redis.call('HMGET', KEYS[4], 'claim', 'claim_reason')
  if c[1] and c[2] and tonumber(c[1]) > now then reason = c[2] end
end
local ms = tonumber(ARGV[2])
if ms < 0 then ms = live_ms(KEYS[4], now) end
local h = redis.call('HMGET', KEYS[4], 'tin', 'tout')
local tin, tout = tonumber(h[1] or '0'), tonumber(h[2] or '0')
redis.call('HSET', KEYS[4], 'state', 'ended', 'reason', reason, 'ended', now, 'ms', ms)
redis.call('HDEL', KEYS[4], 'claim')
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[4]))
redis.call('ZREM', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[3])
local day = math.floor(unix / 86400)
redis.call('HINCRBY', KEYS[3], day .. ':calls', 1)
redis.call('HINCRBY', KEYS[3], day .. ':ms', ms)
redis.call('HINCRBY', KEYS[3], day .. ':tin', tin)
redis.call('HINCRBY', KEYS[3], day .. ':tout', tout)
return {1, ms, tin, tout, reason}
"""
)

# ARGV: budget_ms (-1: none), claim_us, grace_us, call key prefix
# Returns {claims, live count}; a claim is {call_id, reason, provider, provider call, past_grace}.
CLAIM_DUE = (
    _HELPERS
    + """
local now, unix = now_us()
local claim_us, grace_us, prefix = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local out = {}
local function claim(id, reason)
  local key = prefix .. id
  local h = redis.call('HMGET', key, 'state', 'claim', 'deadline', 'provider', 'pcall')
  if h[1] ~= 'live' then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    return
  end
  if h[2] and tonumber(h[2]) > now then return end
  redis.call('HSET', key, 'claim', now + claim_us, 'claim_reason', reason)
  local past = 0
  if now >= tonumber(h[3]) + grace_us then past = 1 end
  table.insert(out, {id, reason, h[4] or '', h[5] or '', past})
end
local seen = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  seen[id] = true
  claim(id, 'max_duration')
end
local budget = tonumber(ARGV[1])
if budget >= 0 then
  local day = math.floor(unix / 86400)
  if spent_ms(KEYS[1], KEYS[3], prefix, now, day) >= budget then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if not seen[id] then claim(id, 'quota_exceeded') end
    end
  end
end
return {out, redis.call('ZCARD', KEYS[1])}
"""
)
