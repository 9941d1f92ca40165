"""Calls in Redis, shared by every replica: one hash per call (`rtg:{tenant}:call:<id>`) and a
sorted set of the tenant's live calls by start time (`rtg:{tenant}:calls:live`). Ending is one
Lua script, so two replicas ending the same call agree on which of them ended it."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from realtime_gateway.gateway.calls.guard import redis_guard
from realtime_gateway.gateway.calls.records import CallRecord
from realtime_gateway.gateway.calls.store import ENDED_RETENTION_SECONDS
from realtime_gateway.gateway.redisconn import tenant_key

# KEYS: call hash, live set. ARGV: call id, reason, ended_at, retention seconds.
END_CALL = """
if redis.call('HGET', KEYS[1], 'status') ~= 'live' then
  return nil
end
redis.call('HSET', KEYS[1], 'status', 'ended', 'ended_reason', ARGV[2], 'ended_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: call hash. ARGV: audio seconds, tokens. Usage of a call that is gone is dropped.
ADD_USAGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HINCRBYFLOAT', KEYS[1], 'audio_seconds', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[2])
return 1
"""


def _decode(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {_text(key): _text(value) for key, value in raw.items()}
    # a script's HGETALL is a flat list
    return {_text(key): _text(value) for key, value in zip(raw[0::2], raw[1::2], strict=True)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCallStore:
    def __init__(self, client: Redis, *, owns_client: bool = False) -> None:
        self._redis = client
        self._owns_client = owns_client
        self._end = client.register_script(END_CALL)
        self._add_usage = client.register_script(ADD_USAGE)

    @staticmethod
    def call_key(tenant: str, call_id: str) -> str:
        return tenant_key(tenant, "call", call_id)

    @staticmethod
    def live_key(tenant: str) -> str:
        return tenant_key(tenant, "calls", "live")

    async def create(self, record: CallRecord) -> None:
        key = self.call_key(record.tenant, record.call_id)
        with redis_guard("create call"):
            await self._create(key, record)

    async def _create(self, key: str, record: CallRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=record.to_fields())  # type: ignore[arg-type]
            # A live call's hash outlives its deadline by the retention, in case no one ends it.
            ttl = int(record.deadline - record.started_at) + ENDED_RETENTION_SECONDS
            pipe.expire(key, ttl)
            pipe.zadd(self.live_key(record.tenant), {record.call_id: record.started_at})
            await pipe.execute()

    async def get(self, tenant: str, call_id: str) -> CallRecord | None:
        with redis_guard("get call"):
            raw = await self._redis.hgetall(self.call_key(tenant, call_id))
        return CallRecord.from_fields(_decode(raw)) if raw else None

    async def list_live(self, tenant: str) -> list[CallRecord]:
        with redis_guard("list calls"):
            return await self._list_live(tenant)

    async def _list_live(self, tenant: str) -> list[CallRecord]:
        ids = [_text(i) for i in await self._redis.zrange(self.live_key(tenant), 0, -1)]
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for call_id in ids:
                pipe.hgetall(self.call_key(tenant, call_id))
            answers = await pipe.execute()
        live: list[CallRecord] = []
        vanished: list[str] = []
        for call_id, raw in zip(ids, answers, strict=True):
            record = CallRecord.from_fields(_decode(raw)) if raw else None
            if record is None:
                vanished.append(call_id)
            elif record.status == "live":
                live.append(record)
        if vanished:
            await self._redis.zrem(self.live_key(tenant), *vanished)
        return live

    async def end(self, tenant: str, call_id: str, reason: str, at: float) -> CallRecord | None:
        with redis_guard("end call"):
            raw = await self._end(
                keys=[self.call_key(tenant, call_id), self.live_key(tenant)],
                args=[call_id, reason, repr(at), ENDED_RETENTION_SECONDS],
            )
        return CallRecord.from_fields(_decode(raw)) if raw else None

    async def add_usage(
        self, tenant: str, call_id: str, audio_seconds: float = 0.0, tokens: int = 0
    ) -> None:
        with redis_guard("add usage"):
            await self._add_usage(
                keys=[self.call_key(tenant, call_id)],
                args=[repr(float(audio_seconds)), int(tokens)],
            )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
