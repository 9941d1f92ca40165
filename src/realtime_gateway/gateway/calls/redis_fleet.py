"""What the gateway processes share in Redis beside the calls themselves.

The reapers' index: tenants by when they next have something due (a deadline, a stale
admission, the budget running out), so a reaper wakes for the tenants that need it and no
other. It is split into shards with their own hash tags (8 on Redis Cluster, where they land on
different masters, so one master down stops the reaping of an eighth of the tenants, not all);
each shard is a sorted set `rtg:{reap-N}:tenants` and a hash of marks, bumped by every touch,
so a reaper's settle never drops a tenant an admission touched meanwhile.

The holders' registry (`rtg:{holders}:...`): every process holding calls (their provider
sidebands, or the WebSocket sessions it relays) beats once a second; a holder whose beats stop
is handed to one live holder at a time, which takes its calls over.
"""

from __future__ import annotations

import logging
import zlib

from redis.asyncio.cluster import RedisCluster

from realtime_gateway.gateway.calls import scripts
from realtime_gateway.gateway.calls.record import CallRecord
from realtime_gateway.gateway.calls.redis_store import FixedClock, RedisCallStore, store_guard, text
from realtime_gateway.gateway.calls.store import Beat, DeadHolder, DueTenant, StoreUnavailable

log = logging.getLogger("realtime_gateway.gateway.calls.fleet")

CLUSTER_SHARDS = 8
# How long a holder taking over a dead one has before another may try.
TAKEOVER_MS = 30_000
HOLDERS_ALIVE = "rtg:{holders}:alive"
HOLDERS_DEAD = "rtg:{holders}:dead"
HOLDERS_LAST = "rtg:{holders}:last"


def shard_keys(shard: int) -> tuple[str, str]:
    tag = "{reap-" + str(shard) + "}"
    return f"rtg:{tag}:tenants", f"rtg:{tag}:marks"


class RedisFleet:
    def __init__(self, store: RedisCallStore, *, clock: FixedClock = None) -> None:
        self._store = store
        self._client = store.client
        self._clock = clock
        self.shards = CLUSTER_SHARDS if isinstance(self._client, RedisCluster) else 1
        register = self._client.register_script
        self._touch = register(scripts.TOUCH)
        self._due = register(scripts.DUE)
        self._settle = register(scripts.SETTLE)
        self._beat = register(scripts.BEAT)
        self._let_go = register(scripts.LET_GO)

    def _now_arg(self) -> int:
        return self._clock() if self._clock is not None else -1

    def _shard_of(self, tenant: str) -> int:
        return zlib.crc32(tenant.encode()) % self.shards

    async def touch(self, tenant: str) -> None:
        with store_guard():
            await self._touch(
                keys=list(shard_keys(self._shard_of(tenant))), args=[self._now_arg(), tenant]
            )

    async def due_tenants(self) -> list[DueTenant]:
        """The tenants of every shard that answers: a master down holds up only its shards'
        tenants (StoreUnavailable only when no shard answers)."""
        due: list[DueTenant] = []
        failures: list[StoreUnavailable] = []
        for shard in range(self.shards):
            try:
                with store_guard():
                    reply = await self._due(keys=list(shard_keys(shard)), args=[self._now_arg()])
            except StoreUnavailable as error:
                failures.append(error)
                log.warning("reapers' index shard unavailable", extra={"shard": shard})
                continue
            flat = [text(item) for item in reply]
            due += [DueTenant(t, m) for t, m in zip(flat[0::2], flat[1::2], strict=True)]
        if len(failures) == self.shards:
            raise failures[0]
        return due

    async def settle(self, due: DueTenant, next_due_ms: int | None) -> None:
        with store_guard():
            await self._settle(
                keys=list(shard_keys(self._shard_of(due.tenant))),
                args=[due.tenant, due.mark, -1 if next_due_ms is None else next_due_ms],
            )

    async def indexed_tenants(self) -> list[str]:
        tenants: list[str] = []
        for shard in range(self.shards):
            with store_guard():
                tenants += [text(t) for t in await self._client.zrange(shard_keys(shard)[0], 0, -1)]
        return tenants

    async def beat(self, holder: str, ttl_ms: int, *, first: bool = False) -> Beat:
        with store_guard():
            reply = await self._beat(
                keys=[HOLDERS_ALIVE, HOLDERS_DEAD, HOLDERS_LAST],
                args=[self._now_arg(), holder, ttl_ms, 1 if first else 0, TAKEOVER_MS],
            )
        if int(reply[0]) == 0:
            return Beat(alive=False, dead=[])
        flat = [text(item) for item in reply[1]]
        dead = [DeadHolder(h, int(last)) for h, last in zip(flat[0::2], flat[1::2], strict=True)]
        return Beat(alive=True, dead=dead)

    async def adopt(self, tenant: str, dead: list[str], holder: str) -> list[CallRecord]:
        return await self._store.adopt(tenant, dead, holder)

    async def bury(self, dead: str) -> None:
        with store_guard():
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.zrem(HOLDERS_DEAD, dead)
                pipe.hdel(HOLDERS_LAST, dead)
                await pipe.execute()

    async def let_go(self, holder: str) -> None:
        with store_guard():
            await self._let_go(keys=[HOLDERS_ALIVE, HOLDERS_DEAD], args=[holder])

    async def aclose(self) -> None:
        return None
