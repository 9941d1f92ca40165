"""The tenant registry's rules, held together for both stores: the same operations on the
memory registry and on the Redis one (a real redis-server) give the same answers, and every
change moves the version that replicas poll."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from realtime_gateway.gateway.tenants.redis_registry import RedisRegistry
from realtime_gateway.gateway.tenants.registry import (
    MemoryRegistry,
    NoSuchTenant,
    TenantExists,
    TenantRegistry,
)


@pytest_asyncio.fixture(params=["memory", "redis"])
async def registry(request: pytest.FixtureRequest) -> AsyncIterator[TenantRegistry]:
    if request.param == "memory":
        yield MemoryRegistry()
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    store = RedisRegistry(client, owns_client=True)
    yield store
    await store.aclose()


async def test_the_same_rules_in_both_stores(registry: TenantRegistry) -> None:
    start = await registry.version()
    created = await registry.create_tenant("initech", {"max_call_seconds": 30})
    assert created.policy == {"max_call_seconds": 30} and not created.disabled
    with pytest.raises(TenantExists):
        await registry.create_tenant("initech", {})
    assert await registry.version() == start + 1
    with pytest.raises(NoSuchTenant):
        await registry.update_tenant("nobody", disabled=True)
    with pytest.raises(NoSuchTenant):
        await registry.issue_key("nobody")

    issued = await registry.issue_key("initech")
    assert issued.key.startswith(issued.entry.prefix) and len(issued.key) > 40
    assert issued.entry.sha256 == hashlib.sha256(issued.key.encode()).hexdigest()
    changed = await registry.update_tenant("initech", policy={"max_call_seconds": 45})
    assert changed.created_ms == created.created_ms
    snapshot = await registry.snapshot()
    assert snapshot.version == start + 3
    assert snapshot.tenants["initech"].policy == {"max_call_seconds": 45}
    assert list(snapshot.keys) == [issued.entry.id]
    assert issued.key not in repr(snapshot)  # only the digest is kept

    await registry.create_tenant("globex", {})
    with pytest.raises(NoSuchTenant):  # another tenant's key is not found, never revoked
        await registry.revoke_key("globex", issued.entry.id)
    revoked = await registry.revoke_key("initech", issued.entry.id)
    assert revoked.id == issued.entry.id
    with pytest.raises(NoSuchTenant):
        await registry.revoke_key("initech", issued.entry.id)
    disabled = await registry.update_tenant("initech", disabled=True)
    assert disabled.disabled and disabled.policy == {"max_call_seconds": 45}
    final = await registry.snapshot()
    assert final.keys == {} and final.version == start + 6
