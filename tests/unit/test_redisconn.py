"""Which Redis topology the settings name, the keys' hash tags, and the default worker count."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from realtime_gateway.gateway.composition import check_scale_out
from realtime_gateway.gateway.ratelimit import build_limiter
from realtime_gateway.gateway.ratelimit.redis_limiter import RedisLimiter, limiter_key
from realtime_gateway.gateway.redisconn import (
    RedisSettingsError,
    RedisTopology,
    redis_from_settings,
    redis_topology,
    tenant_key,
)
from realtime_gateway.gateway.settings import ConfigError, Settings


def test_every_key_of_a_tenant_lands_in_one_cluster_slot() -> None:
    assert limiter_key("acme") == "rtg:{acme}:rl"
    assert tenant_key("acme", "calls", "c1") == "rtg:{acme}:calls:c1"
    slots = {key_slot(key.encode()) for key in (limiter_key("acme"), tenant_key("acme", "x"))}
    assert len(slots) == 1
    assert key_slot(limiter_key("globex").encode()) != key_slot(limiter_key("acme").encode())


def test_each_topology_is_read_from_its_settings() -> None:
    assert redis_topology(Settings()) is None
    single = redis_topology(
        Settings(redis_url=SecretStr("rediss://:pw-s3cret@cache.internal:6380/0"))
    )
    assert single == RedisTopology.single("rediss://:pw-s3cret@cache.internal:6380/0")
    assert single.location == "cache.internal:6380"
    cluster = redis_topology(Settings(redis_cluster_nodes="10.0.0.1:7000, 10.0.0.2:7001"))
    assert cluster == RedisTopology(kind="cluster", nodes=(("10.0.0.1", 7000), ("10.0.0.2", 7001)))
    sentinel = redis_topology(
        Settings(redis_sentinels="[::1]:26379,s2:26379", redis_sentinel_master="main")
    )
    assert sentinel == RedisTopology(
        kind="sentinel", nodes=(("::1", 26379), ("s2", 26379)), master="main"
    )
    assert sentinel.location == "sentinel main@::1:26379,s2:26379"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (
            {"redis_url": SecretStr("redis://h:1/0"), "redis_sentinels": "h:26379"},
            "configure one Redis topology",
        ),
        ({"redis_sentinels": "h:26379"}, "without GATEWAY_REDIS_SENTINEL_MASTER"),
        ({"redis_sentinel_master": "main"}, "without GATEWAY_REDIS_SENTINELS"),
        ({"redis_cluster_nodes": "h:notaport"}, "is not host:port"),
        ({"redis_cluster_nodes": "redis://h:7000"}, "is not host:port"),
        ({"redis_url": SecretStr("memcached://h:1")}, "is not redis://"),
    ],
)
def test_bad_combinations_are_refused_in_one_line(settings: dict[str, object], reason: str) -> None:
    with pytest.raises(RedisSettingsError, match=reason):
        redis_topology(Settings(**settings))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=reason):
        check_scale_out(Settings(**settings))  # type: ignore[arg-type]


def test_worker_count_defaults_to_the_cores_only_with_redis() -> None:
    cores = len(os.sched_getaffinity(0))
    assert Settings().worker_count() == 1
    assert Settings(redis_cluster_nodes="h:7000").worker_count() == cores
    assert Settings(redis_url=SecretStr("redis://h:1/0"), workers=3).worker_count() == 3
    with pytest.raises(ConfigError, match="2 workers need shared state"):
        check_scale_out(Settings(workers=2))
    check_scale_out(Settings(workers=2, redis_url=SecretStr("redis://h:1/0")))


async def test_clients_and_limiters_are_built_for_each_topology_without_connecting() -> None:
    # Nothing listens on port 1: building connects to nothing.
    cluster = Settings(redis_cluster_nodes="127.0.0.1:1")
    sentinel = Settings(redis_sentinels="127.0.0.1:1", redis_sentinel_master="main")
    clients = [redis_from_settings(cluster), redis_from_settings(sentinel)]
    assert isinstance(clients[0], RedisCluster) and isinstance(clients[1], Redis)
    for client in clients:
        await client.aclose()
    for settings in (cluster, sentinel):
        limiter = build_limiter(settings)
        assert isinstance(limiter, RedisLimiter)
        await limiter.aclose()
    with pytest.raises(RedisSettingsError, match="no Redis is configured"):
        redis_from_settings(Settings())
