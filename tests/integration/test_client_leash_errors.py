"""The client against a brokered gateway's refusals: an offer refused with the
gateway's documented body keeps its `error_code`, message and `Retry-After` (it used to become
`SdpRefusedError("provider answered ...")`), the leash's codes have their classes, and
`realtime-gateway connect` exits with the documented status for each."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from realtime_gateway.client import (
    CallsUnavailableError,
    GatewayClient,
    QuotaExceededError,
    TooManyCallsError,
)
from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.servers import RedisServer
from tests.integration.test_connect_cli import assert_failed_cleanly, run_connect

MODEL = "gpt-realtime"
VOICE = "verse"


def brokered(gateway_factory: GatewayFactory, stub: Any, **settings: Any) -> RunningGateway:
    return gateway_factory(
        **wired_to(stub, call_mode="brokered", rate_limit="1000/minute", **settings)
    )


async def test_a_second_call_over_the_cap_is_too_many_calls_and_connect_exits_10(
    gateway_factory: GatewayFactory, stub: Any, tmp_path: Path
) -> None:
    gateway = brokered(gateway_factory, stub, max_concurrent_calls=1)
    async with (
        GatewayClient(gateway.base_url, gateway.tenant_key) as client,
        client.connect(MODEL, VOICE) as live,
    ):
        await live.wait_for_event("session.created", timeout=10)
        with pytest.raises(TooManyCallsError) as caught:
            async with client.connect(MODEL, VOICE):
                pass
        out = tmp_path / "reply.wav"
        result = await asyncio.to_thread(run_connect, gateway, out)
    error = caught.value
    assert (error.status, error.error_code) == (429, "too_many_calls")
    assert error.message == "the tenant has 1 live calls, its limit"  # the gateway's words
    assert "provider answered" not in str(error)
    assert_failed_cleanly(result, 10, "too_many_calls", out)


async def test_a_spent_budget_is_quota_exceeded_with_retry_after_and_connect_exits_11(
    gateway_factory: GatewayFactory, stub: Any, tmp_path: Path
) -> None:
    gateway = brokered(gateway_factory, stub, daily_audio_seconds=1)
    first = await asyncio.to_thread(run_connect, gateway, tmp_path / "first.wav")
    assert first.returncode == 0, first.stderr  # 1.5 s of audio: today's second is spent
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        with pytest.raises(QuotaExceededError) as caught:
            async with client.connect(MODEL, VOICE):
                pass
    error = caught.value
    assert (error.status, error.error_code) == (429, "quota_exceeded")
    assert error.retry_after is not None and 1 <= error.retry_after <= 86400
    out = tmp_path / "reply.wav"
    result = await asyncio.to_thread(run_connect, gateway, out)
    assert_failed_cleanly(result, 11, "quota_exceeded", out)
    assert "(retry after " in result.stderr


async def test_redis_down_is_calls_unavailable_and_connect_exits_12(
    gateway_factory: GatewayFactory,
    stub: Any,
    redis_url: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    gateway = brokered(gateway_factory, stub, redis_url=redis_url, limiter_failure_mode="local")
    redis_server.stop()
    try:
        async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
            with pytest.raises(CallsUnavailableError) as caught:
                async with client.connect(MODEL, VOICE):
                    pass
        out = tmp_path / "reply.wav"
        result = await asyncio.to_thread(run_connect, gateway, out)
    finally:
        redis_server.start()
    assert (caught.value.status, caught.value.error_code) == (503, "calls_unavailable")
    assert_failed_cleanly(result, 12, "calls_unavailable", out)
