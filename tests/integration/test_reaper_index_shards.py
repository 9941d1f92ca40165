"""The reapers' index is not one hot key. On a real 3-master Redis Cluster (serving the slots it
still has when a master is down), with the master that held the old single index key
(`rtg:{leash}:tenants`) killed: a tenant whose own slot and index shard are on the masters still
up has its call hung up at its deadline."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterator

import pytest

from realtime_gateway.gateway.calls.redis_fleet import CLUSTER_SHARDS, RedisFleet, shard_keys
from realtime_gateway.gateway.calls.redis_store import RedisCallStore, TenantKeys
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.policy import Policies, TenantPolicy
from realtime_gateway.gateway.redisconn import RedisTopology
from tests.fixtures.call_service import RecordingProvider, make_calls
from tests.fixtures.call_stores import open_call
from tests.fixtures.redis_topologies import RedisClusterNodes, redis_cluster

OLD_INDEX_KEY = "rtg:{leash}:tenants"
ONE_SECOND = TenantPolicy(max_call_seconds=1)


@pytest.fixture
def cluster() -> Iterator[RedisClusterNodes]:
    with redis_cluster(full_coverage=False) as nodes:
        yield nodes


def tenant_away_from(cluster: RedisClusterNodes, port: int) -> str:
    """A tenant whose keys and index shard both live on masters other than `port`."""
    for number in range(10_000):
        tenant = f"tenant-{number}"
        shard = zlib.crc32(tenant.encode()) % CLUSTER_SHARDS
        if (
            cluster.owner_of(TenantKeys(tenant).calls).port != port
            and cluster.owner_of(shard_keys(shard)[0]).port != port
        ):
            return tenant
    raise AssertionError("no such tenant")


async def test_a_master_down_stops_no_reaping_of_tenants_it_does_not_hold(
    cluster: RedisClusterNodes,
) -> None:
    doomed = cluster.owner_of(OLD_INDEX_KEY)
    tenant = tenant_away_from(cluster, doomed.port)
    client = RedisTopology(
        kind="cluster", nodes=tuple(("127.0.0.1", m.port) for m in cluster.masters)
    ).connect()
    store = RedisCallStore(client, owns_client=True)
    fleet = RedisFleet(store)
    shard_owners = {cluster.owner_of(shard_keys(s)[0]).port for s in range(CLUSTER_SHARDS)}
    assert len(shard_owners) >= 2  # the index is spread over the masters
    provider = RecordingProvider()
    calls, ends = make_calls(store, provider, Policies(ONE_SECOND), fleet=fleet)
    await fleet.touch(tenant)
    call = await open_call(store, tenant, ONE_SECOND)
    doomed.kill()
    reaper = Reaper(calls, interval=0.1)
    reaper.start()
    try:
        async with asyncio.timeout(30):
            while not ends.seen:
                await asyncio.sleep(0.1)
    finally:
        await reaper.aclose()
        await store.aclose()
    assert [(e.call_id, e.reason) for e in ends.seen] == [(call.call_id, "max_duration")]
    assert provider.hung_up[call.provider_call_id] == 1
