"""The leash when Redis does not answer at call creation: `GATEWAY_LIMITER_FAILURE_MODE`
decides, as for the rate limiter (`deny` 503, `allow` uncounted, `local` this process's store)."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.errors import LimiterUnavailable, TooManyCalls
from realtime_gateway.gateway.leash.service import Leash
from realtime_gateway.gateway.leash.types import DueCall
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.settings import load_settings
from tests.fixtures.servers import free_port


async def never_called(due: DueCall) -> None:
    raise AssertionError("nothing is due")


def leash_without_redis(mode: str) -> Leash:
    settings = load_settings(
        api_keys=["acme:k1"],
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        limiter_failure_mode=mode,
        max_concurrent_calls=2,
    )
    return Leash(settings, GatewayMetrics(settings, {"acme"}), never_called)


async def test_deny_refuses_with_limiter_unavailable() -> None:
    leash = leash_without_redis("deny")
    try:
        with pytest.raises(LimiterUnavailable):
            await leash.admit("acme", "call_a")
    finally:
        await leash.aclose()


async def test_allow_admits_without_counting() -> None:
    leash = leash_without_redis("allow")
    try:
        for index in range(3):
            await leash.admit("acme", f"call_{index}")
    finally:
        await leash.aclose()


async def test_local_holds_the_cap_in_process_and_ends_once() -> None:
    leash = leash_without_redis("local")
    try:
        await leash.admit("acme", "call_a")
        await leash.admit("acme", "call_b")
        with pytest.raises(TooManyCalls):
            await leash.admit("acme", "call_c")
        first = await leash.end("acme", "call_a", "caller_hangup")
        assert first is not None and first.reason == "caller_hangup"
        assert await leash.end("acme", "call_a", "caller_hangup") is None
        await leash.admit("acme", "call_c")
    finally:
        await leash.aclose()
