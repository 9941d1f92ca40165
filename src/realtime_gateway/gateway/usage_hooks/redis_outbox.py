"""The outbox in Redis: a stream read through a consumer group (one delivery loop per replica,
each a consumer), a sorted set of retries by due time, and a hash of failures, under one hash
tag. A replica that dies holding events leaves them pending in the group; another replica's
`XAUTOCLAIM` takes them after `claim_ms`. With append-only on, the outbox survives a Redis
restart; a group lost with the data is created again. Times are Redis `TIME`."""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import ResponseError

from realtime_gateway.gateway.calls.redis_store import store_guard, text
from realtime_gateway.gateway.redisconn import SharedRedis
from realtime_gateway.gateway.usage_hooks.outbox import Delivery, Failure

STREAM = "rtg:{webhooks}:outbox"
RETRIES = "rtg:{webhooks}:retries"
FAILED = "rtg:{webhooks}:failed"
GROUP = "deliver"
DEFAULT_CLAIM_MS = 20_000  # longer than a delivery attempt can take

# KEYS retries, stream: due retries back into the stream (one script: never lost, never twice)
PROMOTE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  local d = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', 'id', d.id, 'payload', d.payload,
             'attempts', tostring(d.attempts))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""
# KEYS stream, retries; ARGV group, entry, due_ms, member
LATER = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
end
return 1
"""
# KEYS stream, failed; ARGV group, entry, event id, failure json
GIVE_UP = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
end
return 1
"""
# KEYS failed, stream; ARGV event id
REQUEUE = """
local failure = redis.call('HGET', KEYS[1], ARGV[1])
if not failure then return 0 end
local f = cjson.decode(failure)
redis.call('XADD', KEYS[2], '*', 'id', f.event_id, 'payload', f.payload, 'attempts', '0')
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""


def _delivery(entry: Any, fields: Any) -> Delivery:
    values = {text(k): text(v) for k, v in fields.items()}
    return Delivery(text(entry), values["id"], values["payload"], int(values["attempts"]))


class RedisOutbox:
    backend = "redis"

    def __init__(
        self, client: SharedRedis, *, claim_ms: int = DEFAULT_CLAIM_MS, owns_client: bool = False
    ) -> None:
        self.client = client
        self._claim_ms = claim_ms
        self._owns_client = owns_client
        self._group_made = False
        self._promote = client.register_script(PROMOTE)
        self._later = client.register_script(LATER)
        self._give_up = client.register_script(GIVE_UP)
        self._requeue = client.register_script(REQUEUE)

    async def now_ms(self) -> int:
        with store_guard():
            seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def append(self, event_id: str, payload: str) -> None:
        with store_guard():
            await self.client.xadd(STREAM, {"id": event_id, "payload": payload, "attempts": "0"})

    async def _ensure_group(self) -> None:
        if self._group_made:
            return
        try:
            await self.client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_made = True

    async def take(self, consumer: str, count: int) -> list[Delivery]:
        with store_guard():
            await self._ensure_group()
            try:
                await self._promote(keys=[RETRIES, STREAM])
                claimed: Any = await self.client.xautoclaim(
                    STREAM, GROUP, consumer, self._claim_ms, "0", count=count
                )
                fresh: Any = await self.client.xreadgroup(
                    GROUP, consumer, {STREAM: ">"}, count=count
                )
            except ResponseError as error:
                if "NOGROUP" in str(error):  # Redis lost its data: make the group again
                    self._group_made = False
                    return []
                raise
        out = [_delivery(entry, fields) for entry, fields in claimed[1] if fields]
        for _stream, entries in fresh or []:
            out += [_delivery(entry, fields) for entry, fields in entries if fields]
        return out

    async def done(self, delivery: Delivery) -> None:
        with store_guard():
            if await self.client.xack(STREAM, GROUP, delivery.entry):
                await self.client.xdel(STREAM, delivery.entry)

    async def retry_at(self, delivery: Delivery, due_ms: int) -> None:
        member = json.dumps(
            {
                "id": delivery.event_id,
                "payload": delivery.payload,
                "attempts": delivery.attempts + 1,
            }
        )
        with store_guard():
            await self._later(keys=[STREAM, RETRIES], args=[GROUP, delivery.entry, due_ms, member])

    async def give_up(self, delivery: Delivery, error: str) -> None:
        failure = Failure(
            delivery.event_id, delivery.payload, delivery.attempts + 1, error, await self.now_ms()
        )
        with store_guard():
            await self._give_up(
                keys=[STREAM, FAILED],
                args=[GROUP, delivery.entry, delivery.event_id, failure.to_json()],
            )

    async def failures(self) -> list[Failure]:
        with store_guard():
            held = await self.client.hgetall(FAILED)
        return sorted((Failure.from_json(v) for v in held.values()), key=lambda f: f.failed_ms)

    async def pending(self) -> int:
        with store_guard():
            in_stream = await self.client.xlen(STREAM)
            later = await self.client.zcard(RETRIES)
        return int(in_stream) + int(later)

    async def requeue(self, event_id: str) -> bool:
        with store_guard():
            return bool(await self._requeue(keys=[FAILED, STREAM], args=[event_id]))

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
