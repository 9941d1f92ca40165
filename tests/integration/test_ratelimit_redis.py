"""The shared limiter against a real redis-server: replicas agree, one round trip, failure modes."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
import redis.asyncio as aioredis

from realtime_gateway.gateway.errors import LimiterUnavailable
from realtime_gateway.gateway.ratelimit import Rates
from realtime_gateway.gateway.ratelimit.redis_limiter import (
    SLIDING_WINDOW,
    FailureMode,
    RedisLimiter,
)
from realtime_gateway.gateway.settings import Settings
from tests.fixtures.servers import RedisServer, free_port
from tests.integration.reset_proxy import reset_proxy

WAIT = 10.0
T = TypeVar("T")

MakeLimiter = Callable[..., RedisLimiter]


def rates(rate: str = "3/minute", overrides: list[str] | None = None) -> Rates:
    return Rates.from_settings(
        Settings(rate_limit=rate, tenant_rate_limits=overrides or [], redis_url=None)
    )


@pytest.fixture
async def make_limiter(redis_url: str) -> AsyncIterator[MakeLimiter]:
    """Each call is a separate limiter with its own connection pool, as a separate replica."""
    made: list[RedisLimiter] = []

    def make(
        rate: str = "3/minute",
        overrides: list[str] | None = None,
        failure_mode: FailureMode = "local",
        url: str = redis_url,
    ) -> RedisLimiter:
        limiter = RedisLimiter(url, rates(rate, overrides), failure_mode=failure_mode)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=WAIT)
    yield client
    await client.aclose()


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, timeout=WAIT)


async def test_two_replicas_under_concurrency_allow_exactly_the_limit(
    make_limiter: MakeLimiter, admin: aioredis.Redis
) -> None:
    first, second = make_limiter(), make_limiter()
    decisions = await bounded(
        asyncio.gather(*((first if i % 2 else second).hit("acme") for i in range(12)))
    )
    assert sum(d.allowed for d in decisions) == 3
    assert {d.backend for d in decisions} == {"redis"}
    denied = [d for d in decisions if not d.allowed]
    assert all(d.remaining == 0 and d.retry_after >= max(1, d.reset_after) for d in denied)
    # The state lives in one sorted set per tenant, which expires with the window.
    assert await admin.zcard("rtg:{acme}:rl") == 3
    # Not sooner: a key that expired before its window ended would forget hits still in it.
    assert 50_000 < await admin.pttl("rtg:{acme}:rl") <= 60_000
    # Another tenant is unaffected, from either replica.
    other = [await bounded(limiter.hit("globex")) for limiter in (first, second, first, second)]
    assert [d.allowed for d in other] == [True, True, True, False]


async def test_decision_fields_and_tenant_override(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("3/minute", ["vip=5/10minutes"])
    first = await bounded(limiter.hit("acme"))
    assert (first.allowed, first.policy, first.limit, first.window) == (True, "default", 3, 60)
    assert (first.remaining, first.reset_after, first.retry_after) == (2, 60, 0)
    vip = [await bounded(limiter.hit("vip")) for _ in range(6)]
    assert [d.allowed for d in vip] == [True] * 5 + [False]
    assert vip[-1].headers()["RateLimit-Policy"] == '"tenant";q=5;w=600'
    assert 599 <= vip[-1].reset_after <= 600
    assert vip[-1].headers()["Retry-After"] == str(vip[-1].retry_after)


async def test_window_slides_in_real_time(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter("2/2seconds")
    assert (await bounded(limiter.hit("acme"))).allowed  # A
    a_done = time.monotonic()  # A was counted no later than this
    await asyncio.sleep(1.0)
    assert (await bounded(limiter.hit("acme"))).allowed  # B, >= 1 s after A
    denied = await bounded(limiter.hit("acme"))
    assert not denied.allowed
    assert 1 <= denied.reset_after <= 2
    # A has left 2 s after it; B stays until >= 3 s after A. One slot frees, not two.
    await asyncio.sleep(max(0.0, a_done + 2.05 - time.monotonic()))
    assert (await bounded(limiter.hit("acme"))).allowed
    assert not (await bounded(limiter.hit("acme"))).allowed


async def command_calls(admin: aioredis.Redis) -> dict[str, int]:
    stats = await bounded(admin.info("commandstats"))
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name != "cmdstat_info"
    }


async def test_one_round_trip_per_decision(
    make_limiter: MakeLimiter, admin: aioredis.Redis
) -> None:
    limiter = make_limiter()
    await bounded(limiter.hit("warmup"))  # connects and loads the script
    before = await command_calls(admin)
    for tenant in ("a", "a", "a", "a", "b"):  # allowed and denied alike
        await bounded(limiter.hit(tenant))
    after = await command_calls(admin)
    delta = {name: after[name] - before.get(name, 0) for name in after}
    delta = {name: n for name, n in delta.items() if n}
    # Redis counts the commands a script runs too; those are not round trips. Everything the
    # client itself sent is the five EVALSHAs, and each ran the script once (one TIME each).
    inside_script = {name.lower() for name in re.findall(r"redis\.call\('(\w+)'", SLIDING_WINDOW)}
    sent_by_client = {name: n for name, n in delta.items() if name not in inside_script}
    assert sent_by_client == {"evalsha": 5}
    assert delta["time"] == 5


@pytest.mark.parametrize("mode", ["local", "deny", "allow"])
async def test_failure_modes_when_redis_stops_and_recovery(
    mode: FailureMode,
    make_limiter: MakeLimiter,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = make_limiter("2/minute", failure_mode=mode)
    assert (await bounded(limiter.hit("acme"))).backend == "redis"
    assert await bounded(limiter.check_ready()) is None
    caplog.set_level(logging.WARNING, logger="realtime_gateway.gateway.ratelimit")
    redis_server.stop()
    try:
        if mode == "deny":
            with pytest.raises(LimiterUnavailable) as raised:
                await bounded(limiter.hit("acme"))
            assert raised.value.status_code == 503
            assert raised.value.message == "rate limiter unavailable"
        elif mode == "allow":
            decisions = [await bounded(limiter.hit("acme")) for _ in range(4)]
            assert all(d.allowed and d.backend == "allow" for d in decisions)
        else:
            # The in-process limiter takes over and still bounds spend on this replica.
            decisions = [await bounded(limiter.hit("acme")) for _ in range(3)]
            assert [d.allowed for d in decisions] == [True, True, False]
            assert {d.backend for d in decisions} == {"local"}
        assert await bounded(limiter.check_ready()) == "redis unreachable"
        failures = [r for r in caplog.records if r.name == "realtime_gateway.gateway.ratelimit"]
        assert failures and all(r.levelno == logging.WARNING for r in failures)
        assert f"failure mode '{mode}'" in failures[-1].getMessage()
    finally:
        redis_server.start()
    # Redis is back (empty, its script cache gone): the limiter reloads and recovers.
    recovered = await bounded(limiter.hit("acme"))
    assert (recovered.allowed, recovered.backend) == (True, "redis")
    assert await bounded(limiter.check_ready()) is None


async def test_redis_password_never_logged(
    make_limiter: MakeLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    nobody = f"redis://:hunter2-s3cret@127.0.0.1:{free_port()}/0"
    limiter = make_limiter(url=nobody)
    decision = await bounded(limiter.hit("acme"))
    assert decision.backend == "local"
    assert await bounded(limiter.check_ready()) == "redis unreachable"
    assert caplog.records, "the failed decision was not logged"
    assert "hunter2-s3cret" not in caplog.text
    assert f"127.0.0.1:{nobody.rsplit(':', 1)[1].split('/')[0]}" in caplog.text


async def test_injected_client_is_used_and_left_open(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=WAIT)
    try:
        limiter = RedisLimiter(redis_url, rates("1/minute"), client=client)
        assert (await bounded(limiter.hit("acme"))).allowed
        assert not (await bounded(limiter.hit("acme"))).allowed
        await limiter.aclose()
        assert await bounded(client.zcard("rtg:{acme}:rl")) == 1
    finally:
        await client.aclose()


async def test_a_decision_lost_to_a_connection_reset_is_not_counted_twice(
    redis_server: RedisServer, redis_url: str, admin: aioredis.Redis
) -> None:
    """The client retries a command whose connection broke; if the script had already run, the
    retry must answer the same decision, not count the hit again."""
    async with reset_proxy(redis_server.port) as proxy:
        limiter = RedisLimiter(proxy.url, rates("3/minute"))
        try:
            await bounded(limiter.hit("warmup"))  # loads the script: the next EVALSHA runs it
            proxy.reset_after(b"EVALSHA")
            decision = await bounded(limiter.hit("acme"))
            assert proxy.resets == 1, "the proxy never lost a reply"
            assert (decision.allowed, decision.backend, decision.remaining) == (True, "redis", 2)
            assert await admin.zcard("rtg:{acme}:rl") == 1
            followers = [await bounded(limiter.hit("acme")) for _ in range(3)]
            assert [d.allowed for d in followers] == [True, True, False]
        finally:
            await limiter.aclose()
