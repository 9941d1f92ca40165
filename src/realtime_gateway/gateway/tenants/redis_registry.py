"""The tenant registry in Redis: two hashes (tenants by name, keys by id, each value a JSON
entry) and a version counter, all under one hash tag (one slot: the scripts touch them
together). Every change is one script that checks what it changes (compare and set) and bumps
the version; a snapshot is one script too, so it never mixes two versions. Times are Redis
`TIME`, never this replica's clock."""

from __future__ import annotations

from typing import Any

from realtime_gateway.gateway.calls.redis_store import store_guard, text
from realtime_gateway.gateway.redisconn import SharedRedis
from realtime_gateway.gateway.tenants.registry import (
    IssuedKey,
    KeyEntry,
    NoSuchTenant,
    Snapshot,
    TenantEntry,
    TenantExists,
    new_key,
    new_key_id,
)

TENANTS = "rtg:{control}:tenants"
KEYS = "rtg:{control}:keys"
VERSION = "rtg:{control}:version"

SNAPSHOT = """
return {redis.call('GET', KEYS[3]) or '0', redis.call('HGETALL', KEYS[1]),
        redis.call('HGETALL', KEYS[2])}
"""
# KEYS tenants, version; ARGV name, entry json -> 1 created, 0 the name is taken
CREATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
"""
# KEYS hash, version; ARGV field, expected json, new json ('' deletes)
#   -> 1 done, 0 the field is absent, -1 it changed since it was read (read again)
SWAP = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
if current ~= ARGV[2] then return -1 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('INCR', KEYS[2])
return 1
"""
# KEYS tenants, keys, version; ARGV tenant, key id, entry json -> 1, or 0 no such tenant
ISSUE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[3])
return 1
"""


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}


class RedisRegistry:
    backend = "redis"

    def __init__(self, client: SharedRedis, *, owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client
        self._snapshot = client.register_script(SNAPSHOT)
        self._create = client.register_script(CREATE)
        self._swap = client.register_script(SWAP)
        self._issue = client.register_script(ISSUE)

    async def _now_ms(self) -> int:
        with store_guard():
            seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def version(self) -> int:
        with store_guard():
            value = await self.client.get(VERSION)
        return int(value or 0)

    async def snapshot(self) -> Snapshot:
        with store_guard():
            version, tenants, keys = await self._snapshot(keys=[TENANTS, KEYS, VERSION])
        return Snapshot(
            int(version),
            {name: TenantEntry.from_json(v) for name, v in _pairs(tenants).items()},
            {key_id: KeyEntry.from_json(v) for key_id, v in _pairs(keys).items()},
        )

    async def create_tenant(self, name: str, policy: dict[str, Any]) -> TenantEntry:
        entry = TenantEntry(name, policy, False, await self._now_ms())
        with store_guard():
            created = await self._create(keys=[TENANTS, VERSION], args=[name, entry.to_json()])
        if not int(created):
            raise TenantExists(f"tenant {name} exists")
        return entry

    async def update_tenant(
        self, name: str, *, policy: dict[str, Any] | None = None, disabled: bool | None = None
    ) -> TenantEntry:
        while True:  # compare and set: a concurrent change makes it read again
            with store_guard():
                current = await self.client.hget(TENANTS, name)
            if current is None:
                raise NoSuchTenant(f"no tenant {name}")
            old = TenantEntry.from_json(current)
            entry = TenantEntry(
                name,
                old.policy if policy is None else policy,
                old.disabled if disabled is None else disabled,
                old.created_ms,
            )
            with store_guard():
                done = int(
                    await self._swap(
                        keys=[TENANTS, VERSION], args=[name, text(current), entry.to_json()]
                    )
                )
            if done == 0:
                raise NoSuchTenant(f"no tenant {name}")
            if done == 1:
                return entry

    async def issue_key(self, tenant: str) -> IssuedKey:
        key, prefix, digest = new_key()
        entry = KeyEntry(new_key_id(), tenant, prefix, digest, await self._now_ms())
        with store_guard():
            issued = await self._issue(
                keys=[TENANTS, KEYS, VERSION], args=[tenant, entry.id, entry.to_json()]
            )
        if not int(issued):
            raise NoSuchTenant(f"no tenant {tenant}")
        return IssuedKey(entry, key)

    async def revoke_key(self, tenant: str, key_id: str) -> KeyEntry:
        with store_guard():
            current = await self.client.hget(KEYS, key_id)
        entry = KeyEntry.from_json(current) if current is not None else None
        if entry is None or entry.tenant != tenant:
            raise NoSuchTenant(f"tenant {tenant} has no key {key_id}")
        with store_guard():
            # A key entry never changes, so -1 cannot happen; 0: revoked meanwhile, the same.
            await self._swap(keys=[KEYS, VERSION], args=[key_id, text(current), ""])
        return entry

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
