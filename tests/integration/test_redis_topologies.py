"""The shared limiter on a real Redis Cluster and a real Sentinel-watched master: exact across
replicas, following a slot that moves between masters, and across a failover with nothing
counted twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import MovedError

from realtime_gateway.gateway.ratelimit import Rates
from realtime_gateway.gateway.ratelimit.redis_limiter import RedisLimiter, limiter_key
from realtime_gateway.gateway.redisconn import RedisTopology
from realtime_gateway.gateway.settings import Settings
from tests.fixtures.gateway import OTHER_TENANT_KEY, TENANT_KEY
from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.redis_topologies import RedisClusterNodes, SentinelSet

BODY = {"model": "gpt-realtime", "voice": "verse"}
WAIT = 30.0


def replica_env(stub: Any, rate: str, **redis: str) -> dict[str, str]:
    return {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY},globex:{OTHER_TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_RATE_LIMIT": rate,
        **redis,
    }


async def post_session(
    http: httpx.AsyncClient, replica: GatewayProcess, key: str = TENANT_KEY
) -> httpx.Response:
    return await http.post(
        replica.base_url + "/realtime_session",
        json=BODY,
        headers={"Authorization": f"Bearer {key}"},
    )


async def assert_ready(http: httpx.AsyncClient, replica: GatewayProcess) -> None:
    response = await http.get(replica.base_url + "/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "limiter": "redis"}


async def test_limit_is_exact_across_two_replicas_on_a_cluster(
    stub: Any, cluster: RedisClusterNodes, tmp_path: Path
) -> None:
    env = replica_env(stub, "3/minute", GATEWAY_REDIS_CLUSTER_NODES=cluster.setting)
    with contextlib.ExitStack() as stack:
        replicas = [stack.enter_context(gateway_process(tmp_path, env)) for _ in range(2)]
        async with httpx.AsyncClient(timeout=WAIT) as http:
            for replica in replicas:
                await assert_ready(http, replica)
            answers = await asyncio.gather(
                *(post_session(http, replicas[i % 2]) for i in range(12))
            )
            assert sorted(a.status_code for a in answers) == [200] * 3 + [429] * 9
            others = [await post_session(http, r, OTHER_TENANT_KEY) for r in replicas]
            assert [a.status_code for a in others] == [200, 200]
    assert stub.state.mint_count == 5
    # Each tenant's window is one sorted set, whole on the master that owns its slot.
    for tenant, count in (("acme", 3), ("globex", 2)):
        key = limiter_key(tenant)
        with cluster.owner_of(key).client() as owner:
            assert owner.zcard(key) == count


def cluster_limiter(cluster: RedisClusterNodes, rate: str) -> RedisLimiter:
    nodes = tuple(("127.0.0.1", node.port) for node in cluster.masters)
    rates = Rates.from_settings(Settings(rate_limit=rate))
    return RedisLimiter(RedisTopology(kind="cluster", nodes=nodes), rates, failure_mode="deny")


async def test_a_slot_moved_to_another_master_is_followed(cluster: RedisClusterNodes) -> None:
    limiter = cluster_limiter(cluster, "3/minute")
    try:
        before = [await asyncio.wait_for(limiter.hit("acme"), WAIT) for _ in range(2)]
        key = limiter_key("acme")
        old_owner = cluster.owner_of(key)
        new_owner = next(node for node in cluster.masters if node is not old_owner)
        cluster.move_slot_of(key, new_owner)
        assert cluster.owner_of(key) is new_owner
        after = [await asyncio.wait_for(limiter.hit("acme"), WAIT) for _ in range(3)]
    finally:
        await limiter.aclose()
    assert [d.allowed for d in before + after] == [True, True, True, False, False]
    assert {d.backend for d in before + after} == {"redis"}
    with new_owner.client() as owner, old_owner.client() as former:
        assert owner.zcard(key) == 3
        with pytest.raises(MovedError):  # the old owner now redirects, as it did the limiter
            former.exists(key)


async def test_sentinel_failover_resumes_creations_with_nothing_counted_twice(
    stub: Any, sentinel_set: SentinelSet, tmp_path: Path
) -> None:
    env = replica_env(
        stub,
        "6/minute",
        GATEWAY_REDIS_SENTINELS=sentinel_set.setting,
        GATEWAY_REDIS_SENTINEL_MASTER=sentinel_set.name,
        GATEWAY_LIMITER_FAILURE_MODE="deny",
    )
    with gateway_process(tmp_path, env) as replica:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            await assert_ready(http, replica)
            codes = [(await post_session(http, replica)).status_code for _ in range(2)]
            assert codes == [200, 200]
            with sentinel_set.master.client() as master:
                # Both hits are on the replica before the master dies (replication is async).
                assert master.execute_command("WAIT", 1, 5000) == 1
            sentinel_set.master.kill()

            # Until the sentinels promote the replica, every decision fails closed (deny);
            # then creations resume on the new master, without a restart.
            refused: list[str] = []
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                answer = await post_session(http, replica)
                if answer.status_code == 200:
                    break
                assert answer.status_code == 503, answer.text
                refused.append(answer.json()["error_code"])
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"no creation passed within {WAIT} s of the master's death")
            assert set(refused) <= {"limiter_unavailable"}
            assert sentinel_set.master_port() == sentinel_set.replica.port
            await assert_ready(http, replica)
            rest = [(await post_session(http, replica)).status_code for _ in range(5)]
    # 2 before, 1 that resumed, 3 more: exactly the limit of 6, then refused.
    assert rest == [200, 200, 200, 429, 429]
    assert stub.state.mint_count == 6
    with sentinel_set.replica.client() as new_master:
        assert new_master.zcard(limiter_key("acme")) == 6
