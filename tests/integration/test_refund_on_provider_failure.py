"""A provider failure (5xx, timeout, unreachable) refunds the tenant's rate-limit hit, in the
in-process limiter and atomically in the shared Redis key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from realtime_gateway.gateway.ratelimit import Rates
from realtime_gateway.gateway.ratelimit.redis_limiter import RedisLimiter, limiter_key
from realtime_gateway.gateway.settings import Settings
from tests.fixtures.gateway import GatewayFactory, RunningGateway
from tests.fixtures.provider import (
    PROVIDER_KEY,
    PROVIDER_TIMEOUT,
    ScriptedProvider,
    error,
    hang,
    scripted_provider,
)

BODY = {"model": "gpt-realtime", "voice": "verse"}


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    with scripted_provider() as running:
        yield running


def wired(
    factory: GatewayFactory, provider: ScriptedProvider, backend: str, redis_url: str
) -> RunningGateway:
    values: dict[str, Any] = {
        "openai_api_key": PROVIDER_KEY,
        "provider_endpoint": provider.ga_endpoint,
        "allowed_endpoints": [provider.ga_endpoint],
        "provider_timeout": PROVIDER_TIMEOUT,
        "rate_limit": "3/minute",
    }
    if backend == "redis":
        values["redis_url"] = redis_url
    return factory(**values)


def mint(gateway: RunningGateway) -> httpx.Response:
    return httpx.post(
        gateway.url("/realtime_session"), json=BODY, headers=gateway.auth(), timeout=10
    )


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_three_provider_failures_then_a_fourth_call_still_mints(
    provider: ScriptedProvider, gateway_factory: GatewayFactory, redis_url: str, backend: str
) -> None:
    gateway = wired(gateway_factory, provider, backend, redis_url)
    provider.script(error(500), hang(2.0), error(503))
    failed = [mint(gateway) for _ in range(3)]
    assert [r.json()["error_code"] for r in failed] == ["provider_error"] * 3
    minted = [mint(gateway) for _ in range(3)]
    assert [r.status_code for r in minted] == [200, 200, 200], minted[-1].text
    assert minted[0].headers["RateLimit"] == '"default";r=2;t=60'
    # The refunds gave back exactly what the failures took: the window is now full.
    limited = mint(gateway)
    assert limited.status_code == 429 and limited.json()["error_code"] == "rate_limited"


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_provider_refusal_is_not_refunded(
    provider: ScriptedProvider, gateway_factory: GatewayFactory, redis_url: str, backend: str
) -> None:
    # A 4xx is the request's fault as much as the provider's: refunding it would let a tenant
    # hammer the provider with the operator's key.
    gateway = wired(gateway_factory, provider, backend, redis_url)
    provider.script(error(400), error(401), error(429))
    assert [mint(gateway).status_code for _ in range(3)] == [500, 500, 500]
    assert mint(gateway).status_code == 429


async def test_redis_refund_removes_only_its_own_hit_from_the_shared_key(redis_url: str) -> None:
    rates = Rates.from_settings(Settings(rate_limit="3/minute", redis_url=None))
    first = RedisLimiter(redis_url, rates)
    second = RedisLimiter(redis_url, rates)  # another replica
    try:
        kept = await first.hit("acme")
        refunded = await second.hit("acme")
        assert kept.allowed and refunded.allowed and kept.ticket != refunded.ticket
        await first.refund("acme", refunded)  # any replica can refund any replica's hit
        members = redis.Redis.from_url(redis_url).zrange(limiter_key("acme"), 0, -1)
        assert members == [kept.ticket.encode()]
        await first.refund("acme", refunded)  # twice is a no-op
        assert (await second.hit("acme")).remaining == 1
    finally:
        await first.aclose()
        await second.aclose()
