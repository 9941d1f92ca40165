"""The call store's Lua scripts: the leash's rules, each one atomic step on one tenant's keys.

The same rules, written in Python, are `memory_store.py`; a state-machine test runs both.
Every key a script touches is declared in KEYS (Redis Cluster moves slots by the keys it is
told of) and carries the tenant's hash tag, so each script runs on one slot.

Times are Unix milliseconds: `ARGV[1]` is a fixed time for tests that move the clock, or -1
(always, outside tests) for Redis `TIME`, the one clock every decision uses. Numbers written
back go through `int()` (a Lua number would otherwise be formatted with 14 significant digits).

The meter (`rtg:{t}:meter`) sums the tenant's live calls' use without reading their records:
`audio_ms` is the sum of the provider's figures for the calls that have one, and for the rest
`clock_ms + clock_calls * (now - clock_at)` is the sum of `now - started`.

Tenant keys, by position where a script takes them:
  calls   zset call id -> deadline: admissions and live calls (the slots)
  due     zset call id -> when the reaper next looks at it
  meter   hash (above)
  ledger  hash `<day>:calls|ms|tin|tout`, and `<day>:<transport>:calls|ms`
  days    zset of the ledger's days (for retention)
  call    hash: one call's record
  token   hash: a call token's grant (`spec`, `used_by`)
"""

from __future__ import annotations

from realtime_gateway.gateway.calls.record import TRANSPORTS

_TRANSPORTS_LUA = "{" + ", ".join(f"'{name}'" for name in TRANSPORTS) + "}"

_HELPERS = """
local function int(x) return string.format('%d', x) end
local function now_ms()
  local forced = tonumber(ARGV[1])
  if forced >= 0 then return forced end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function meter_read(meter, now)
  local m = redis.call('HMGET', meter, 'clock_calls', 'clock_ms', 'clock_at', 'audio_ms')
  local n = tonumber(m[1] or '0')
  local at = tonumber(m[3] or int(now))
  return n, tonumber(m[2] or '0') + n * (now - at), tonumber(m[4] or '0')
end
local function meter_write(meter, now, n, ms, audio)
  redis.call('HSET', meter, 'clock_calls', int(n), 'clock_ms', int(ms), 'clock_at', int(now),
             'audio_ms', int(audio))
end
local function spent(meter, ledger, now)
  local _, ms, audio = meter_read(meter, now)
  local day = math.floor(now / 86400000)
  return tonumber(redis.call('HGET', ledger, int(day) .. ':ms') or '0') + ms + audio
end
"""

# KEYS: token. ARGV: now, spec JSON, life ms -> the grant's expiry (ms). The key's own TTL
# (a little longer) only frees memory: expiry is judged against `expires` by the same clock.
PUT_GRANT = (
    _HELPERS
    + """
local expires = now_ms() + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'spec', ARGV[2], 'used_by', '', 'expires', int(expires))
redis.call('PEXPIRE', KEYS[1], int(tonumber(ARGV[3]) + 60000))
return int(expires)
"""
)

# KEYS: calls, due, meter, ledger, call, token (a placeholder in the slot when no token)
# ARGV: now, call id, cap, max call ms, budget ms (-1: none), grace ms, attach window ms,
#       record ttl ms, use token (0/1), transport, spec JSON ('' with a token), provider call
#       id, token digest, enforce cap and budget (0/1)
# -> {1, started, deadline, spec} | {0, 'unauthorized' | 'too_many_calls'} |
#    {0, 'quota_exceeded', ms to midnight}
ADMIT = (
    _HELPERS
    + """
local now = now_ms()
local state = redis.call('HMGET', KEYS[5], 'state', 'started', 'deadline', 'spec')
if state[1] then return {1, state[2], state[3], state[4]} end
local spec = ARGV[11]
if ARGV[9] == '1' then
  local grant = redis.call('HMGET', KEYS[6], 'spec', 'used_by', 'expires')
  if not grant[1] or tonumber(grant[3]) <= now then return {0, 'unauthorized'} end
  if grant[2] and grant[2] ~= '' and grant[2] ~= ARGV[2] then return {0, 'unauthorized'} end
  spec = grant[1]
end
if ARGV[14] == '1' then
  local taken = redis.call('ZCOUNT', KEYS[1], '(' .. int(now - tonumber(ARGV[6])), '+inf')
  if taken >= tonumber(ARGV[3]) then return {0, 'too_many_calls'} end
  local budget = tonumber(ARGV[5])
  if budget >= 0 and spent(KEYS[3], KEYS[4], now) >= budget then
    return {0, 'quota_exceeded', int(86400000 - now % 86400000)}
  end
end
local deadline = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], int(deadline), ARGV[2])
redis.call('ZADD', KEYS[2], int(math.min(now + tonumber(ARGV[7]), deadline)), ARGV[2])
local n, ms, audio = meter_read(KEYS[3], now)
meter_write(KEYS[3], now, n + 1, ms, audio)
redis.call('HSET', KEYS[5], 'id', ARGV[2], 'state', 'admitted', 'transport', ARGV[10], 'spec', spec,
           'started', int(now), 'deadline', int(deadline), 'pcall', ARGV[12], 'token', ARGV[13],
           'tin', 0, 'tout', 0)
redis.call('PEXPIRE', KEYS[5], ARGV[8])
if ARGV[9] == '1' then redis.call('HSET', KEYS[6], 'used_by', ARGV[2]) end
return {1, int(now), int(deadline), spec}
"""
)

# KEYS: due, call. ARGV: now, call id, provider call id, holder -> 1 | 0 (the admission is gone)
ATTACH = """
local h = redis.call('HMGET', KEYS[2], 'state', 'pcall', 'deadline')
if h[1] == 'live' then
  if h[2] == ARGV[3] then return 1 end
  return 0
end
if h[1] ~= 'admitted' then return 0 end
redis.call('HSET', KEYS[2], 'state', 'live', 'pcall', ARGV[3], 'holder', ARGV[4])
if ARGV[5] ~= nil and ARGV[5] ~= '' then redis.call('HSET', KEYS[2], 'spec', ARGV[5]) end
redis.call('ZADD', KEYS[1], h[3], ARGV[2])
return 1
"""

# KEYS: calls, due, meter, call, token (or a placeholder). ARGV: now, call id -> 1 | 0
RELEASE = (
    _HELPERS
    + """
local h = redis.call('HMGET', KEYS[4], 'state', 'started')
if h[1] ~= 'admitted' then return 0 end
local now = now_ms()
local n, ms, audio = meter_read(KEYS[3], now)
meter_write(KEYS[3], now, n - 1, ms - (now - tonumber(h[2])), audio)
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[4])
if redis.call('HGET', KEYS[5], 'used_by') == ARGV[2] then
  redis.call('HSET', KEYS[5], 'used_by', '')
end
return 1
"""
)

# KEYS: meter, call, responses. ARGV: now, response id ('' none), tokens in, tokens out,
# cumulative audio ms (-1: none), responses ttl ms -> 1 | 0 (not live)
USAGE = (
    _HELPERS
    + """
local h = redis.call('HMGET', KEYS[2], 'state', 'audio_ms', 'started')
if h[1] ~= 'live' then return 0 end
local rid = ARGV[2]
if rid == '' or redis.call('SADD', KEYS[3], rid) == 1 then
  if rid ~= '' then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
  redis.call('HINCRBY', KEYS[2], 'tin', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'tout', ARGV[4])
end
local audio = tonumber(ARGV[5])
if audio >= 0 then
  local before = tonumber(h[2])
  if before == nil or audio > before then
    local now = now_ms()
    local n, ms, sum = meter_read(KEYS[1], now)
    if before == nil then
      n = n - 1
      ms = ms - (now - tonumber(h[3]))
      sum = sum + audio
    else
      sum = sum + audio - before
    end
    meter_write(KEYS[1], now, n, ms, sum)
    redis.call('HSET', KEYS[2], 'audio_ms', int(audio))
  end
end
return 1
"""
)

# KEYS: due, call. ARGV: now, call id, reason, claim ms -> 1 | 0
MARK_ENDING = (
    _HELPERS
    + """
local h = redis.call('HMGET', KEYS[2], 'state', 'hangup', 'ending_reason')
if h[1] ~= 'live' then return 0 end
local now = now_ms()
if not h[2] then redis.call('HSET', KEYS[2], 'hangup', int(now)) end
if not h[3] then redis.call('HSET', KEYS[2], 'ending_reason', ARGV[3]) end
local until_ms = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[2], 'claim', int(until_ms))
redis.call('ZADD', KEYS[1], int(until_ms), ARGV[2])
return 1
"""
)

# KEYS: calls, due, meter, ledger, days, call, responses
# ARGV: now, call id, reason, op, final audio ms (-1), bill until ms (-1), ended ttl ms,
#       retention days
# -> {1 | 2 (this op, run again), billed, tin, tout, reason, transport, started, ended} | {0}
END = (
    _HELPERS
    + """
local h = redis.call('HMGET', KEYS[6], 'state', 'end_op', 'billed', 'tin', 'tout', 'reason',
                     'transport', 'started', 'ended', 'audio_ms', 'hangup', 'ending_reason')
if h[1] == 'ended' then
  if h[2] == ARGV[4] then return {2, h[3], h[4], h[5], h[6], h[7], h[8], h[9]} end
  return {0}
end
if h[1] ~= 'live' then return {0} end
local now = now_ms()
local reason = ARGV[3]
if reason == 'provider_closed' and h[12] then reason = h[12] end
local started = tonumber(h[8])
local audio = tonumber(h[10])
local n, ms, sum = meter_read(KEYS[3], now)
if audio == nil then
  n = n - 1
  ms = ms - (now - started)
else
  sum = sum - audio
end
meter_write(KEYS[3], now, n, ms, sum)
local final = tonumber(ARGV[5])
if final >= 0 and (audio == nil or final > audio) then audio = final end
local billed
if audio ~= nil then
  billed = audio
  redis.call('HSET', KEYS[6], 'audio_ms', int(audio))
else
  local stop = now
  local hang = tonumber(h[11])
  if hang and hang < stop then stop = hang end
  local cap = tonumber(ARGV[6])
  if cap >= 0 and cap < stop then stop = cap end
  billed = math.max(0, stop - started)
end
redis.call('HSET', KEYS[6], 'state', 'ended', 'reason', reason, 'ended', int(now),
           'billed', int(billed), 'end_op', ARGV[4])
redis.call('HDEL', KEYS[6], 'claim')
redis.call('PEXPIRE', KEYS[6], ARGV[7])
redis.call('PEXPIRE', KEYS[7], ARGV[7])
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
local day = math.floor(now / 86400000)
local d = int(day)
local tin, tout = h[4] or '0', h[5] or '0'
redis.call('HINCRBY', KEYS[4], d .. ':calls', 1)
redis.call('HINCRBY', KEYS[4], d .. ':ms', int(billed))
redis.call('HINCRBY', KEYS[4], d .. ':tin', tin)
redis.call('HINCRBY', KEYS[4], d .. ':tout', tout)
redis.call('HINCRBY', KEYS[4], d .. ':' .. h[7] .. ':calls', 1)
redis.call('HINCRBY', KEYS[4], d .. ':' .. h[7] .. ':ms', int(billed))
redis.call('ZADD', KEYS[5], d, d)
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', int(day - tonumber(ARGV[8])))) do
  redis.call('HDEL', KEYS[4], old .. ':calls', old .. ':ms', old .. ':tin', old .. ':tout')
  for _, t in ipairs(TRANSPORTS) do
    redis.call('HDEL', KEYS[4], old .. ':' .. t .. ':calls', old .. ':' .. t .. ':ms')
  end
  redis.call('ZREM', KEYS[5], old)
end
return {1, int(billed), tin, tout, reason, h[7], h[8], int(now)}
""".replace("TRANSPORTS", _TRANSPORTS_LUA)
)

# KEYS: calls, due, meter, ledger. ARGV: now, budget ms (-1)
# -> {ids to look at (the due ones, or every call when the budget is spent)}
CANDIDATES = (
    _HELPERS
    + """
local now = now_ms()
local budget = tonumber(ARGV[2])
if budget >= 0 and spent(KEYS[3], KEYS[4], now) >= budget then
  return redis.call('ZRANGE', KEYS[1], 0, -1)
end
return redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now))
"""
)

# KEYS: calls, due, meter, ledger, then one call hash per id. ARGV: now, claim ms, grace ms,
# budget ms (-1), then the ids.
# -> {{reason, past grace (0/1), record fields...}, ...}, next due ms (-1: nothing left)
CLAIM = (
    _HELPERS
    + """
local now = now_ms()
local claim_ms, grace, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local over = budget >= 0 and spent(KEYS[3], KEYS[4], now) >= budget
local out = {}
for i = 5, #KEYS do
  local id = ARGV[i]
  local h = redis.call('HMGET', KEYS[i], 'state', 'claim', 'deadline')
  if not h[1] or h[1] == 'ended' then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  elseif not (h[2] and tonumber(h[2]) > now) then
    local reason = nil
    if h[1] == 'admitted' then
      local due = tonumber(redis.call('ZSCORE', KEYS[2], id) or '0')
      if now >= due then reason = 'stale_admission' end
    elseif now >= tonumber(h[3]) then
      reason = 'max_duration'
    elseif over then
      reason = 'quota_exceeded'
    end
    if reason then
      redis.call('HSET', KEYS[i], 'claim', int(now + claim_ms))
      redis.call('ZADD', KEYS[2], int(now + claim_ms), id)
      local past = 0
      if now >= tonumber(h[3]) + grace then past = 1 end
      table.insert(out, {reason, past, redis.call('HGETALL', KEYS[i])})
    end
  end
end
local next_due = -1
local count = redis.call('ZCARD', KEYS[1])
if count > 0 then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[2] then next_due = tonumber(first[2]) end
  if budget >= 0 then
    local left = budget - spent(KEYS[3], KEYS[4], now)
    if left > 0 then
      local by_budget = now + math.max(1000, math.floor(left / count))
      if next_due < 0 or by_budget < next_due then next_due = by_budget end
    end
  end
end
return {out, int(next_due)}
"""
)

# KEYS: calls. ARGV: now, grace ms -> admissions and live calls holding a slot
SLOTS = (
    _HELPERS
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. int(now_ms() - tonumber(ARGV[2])), '+inf')
"""
)

# KEYS: meter, ledger. ARGV: now -> audio ms the tenant used today, live calls included
SPENT = (
    _HELPERS
    + """
return int(spent(KEYS[1], KEYS[2], now_ms()))
"""
)

# KEYS: one call hash per id. ARGV: new holder, then the dead holders.
# -> the records (field lists) of the live calls now held by the new holder
ADOPT = """
local dead = {}
for i = 2, #ARGV do dead[ARGV[i]] = true end
local out = {}
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'state', 'holder')
  if h[1] == 'live' and dead[h[2] or ''] then
    redis.call('HSET', KEYS[i], 'holder', ARGV[1])
    table.insert(out, redis.call('HGETALL', KEYS[i]))
  end
end
return out
"""

# -- the fleet: the reapers' index and the holders' registry ---------------------------------

# KEYS: index zset (tenant -> due ms), marks hash. ARGV: now, tenant
TOUCH = (
    _HELPERS
    + """
redis.call('ZADD', KEYS[1], 'LT', int(now_ms()), ARGV[2])
return redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
"""
)

# KEYS: index zset, marks hash. ARGV: now -> {tenant, mark, tenant, mark, ...} of those due
DUE = (
    _HELPERS
    + """
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now_ms()), 'LIMIT', 0, 512)
for _, tenant in ipairs(due) do
  table.insert(out, tenant)
  table.insert(out, redis.call('HGET', KEYS[2], tenant) or '0')
end
return out
"""
)

# KEYS: index zset, marks hash. ARGV: tenant, mark, next due ms (-1: forget the tenant)
SETTLE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if tonumber(ARGV[3]) < 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
"""

# KEYS: alive zset (holder -> expiry), dead zset (holder -> takeover claim), last beats hash
# ARGV: now, holder, ttl ms, first (0/1), takeover claim ms
# -> {1, {dead holder, its last beat, ...}} | {0} (this holder was presumed dead)
BEAT = (
    _HELPERS
    + """
local now = now_ms()
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if (not score and ARGV[4] ~= '1') or (score and tonumber(score) < now) then
  if score then
    redis.call('ZREM', KEYS[1], ARGV[2])
    redis.call('ZADD', KEYS[2], 0, ARGV[2])
  end
  return {0}
end
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[3])), ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], int(now))
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now))) do
  redis.call('ZREM', KEYS[1], gone)
  redis.call('ZADD', KEYS[2], 0, gone)
end
local mine = {}
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'LIMIT', 0, 8)) do
  redis.call('ZADD', KEYS[2], int(now + tonumber(ARGV[5])), gone)
  table.insert(mine, gone)
  table.insert(mine, redis.call('HGET', KEYS[3], gone) or '0')
end
return {1, mine}
"""
)

# KEYS: alive zset, dead zset. ARGV: holder. A graceful stop: take my calls over now.
LET_GO = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
"""

# KEYS: the key. ARGV: op, ttl ms. 1 the first time (or when `op` is the one that set it), else 0.
REMEMBER = """
local held = redis.call('GET', KEYS[1])
if held == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
if held == ARGV[1] then return 1 end
return 0
"""
