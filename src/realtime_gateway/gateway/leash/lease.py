"""Leases on live calls' sidebands: one replica holds each call's sideband, renews its lease
while it does, and another replica may take the call over once the lease lapses.

Redis: `SET NX PX` to take, a compare-and-`PEXPIRE` script to renew, compare-and-`DEL` to let go,
so a replica that lost its lease (paused too long) can neither renew nor drop its successor's.
"""

from __future__ import annotations

import secrets
import time
from typing import Protocol

from realtime_gateway.gateway.ratelimit.types import Clock
from realtime_gateway.gateway.redisconn import SharedRedis, tenant_key

RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
LET_GO = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class Leases(Protocol):
    holder: str

    async def take(self, tenant: str, call_id: str) -> bool: ...

    async def renew(self, tenant: str, call_id: str) -> bool: ...

    async def let_go(self, tenant: str, call_id: str) -> None: ...


def new_holder() -> str:
    return "replica-" + secrets.token_hex(8)


class RedisLeases:
    def __init__(
        self, client: SharedRedis, lease_seconds: float, holder: str | None = None
    ) -> None:
        self.holder = holder or new_holder()
        self._client = client
        self._ms = int(lease_seconds * 1000)
        self._renew = client.register_script(RENEW)
        self._let_go = client.register_script(LET_GO)

    @staticmethod
    def _key(tenant: str, call_id: str) -> str:
        return tenant_key(tenant, "leash", "sideband", call_id)

    async def take(self, tenant: str, call_id: str) -> bool:
        taken = await self._client.set(
            self._key(tenant, call_id), self.holder, nx=True, px=self._ms
        )
        return bool(taken)

    async def renew(self, tenant: str, call_id: str) -> bool:
        kept = await self._renew(keys=[self._key(tenant, call_id)], args=[self.holder, self._ms])
        return bool(kept)

    async def let_go(self, tenant: str, call_id: str) -> None:
        await self._let_go(keys=[self._key(tenant, call_id)], args=[self.holder])


class MemoryLeases:
    """One process: leases only keep this replica's own watcher from attaching twice."""

    def __init__(self, lease_seconds: float, clock: Clock = time.monotonic) -> None:
        self.holder = new_holder()
        self._seconds = lease_seconds
        self._clock = clock
        self._until: dict[tuple[str, str], float] = {}

    async def take(self, tenant: str, call_id: str) -> bool:
        now = self._clock()
        if self._until.get((tenant, call_id), 0.0) > now:
            return False
        self._until[tenant, call_id] = now + self._seconds
        return True

    async def renew(self, tenant: str, call_id: str) -> bool:
        if (tenant, call_id) not in self._until:
            return False
        self._until[tenant, call_id] = self._clock() + self._seconds
        return True

    async def let_go(self, tenant: str, call_id: str) -> None:
        self._until.pop((tenant, call_id), None)
