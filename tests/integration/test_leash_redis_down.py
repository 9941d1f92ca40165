"""The leash when Redis does not answer at a call's admission (a call made with a tenant
credential): `GATEWAY_LIMITER_FAILURE_MODE` decides, as for the rate limiter. `deny` answers
503; `local` admits against this process's own store under the tenant's cap; `allow` admits
there without the cap, but every call still has its deadline and is hung up at it. A call token
lives only in Redis, so it cannot be redeemed while Redis is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.service import Calls
from realtime_gateway.gateway.calls.store import StoreUnavailable
from realtime_gateway.gateway.calls.tokens import mint_token
from realtime_gateway.gateway.composition import Services, build_services
from realtime_gateway.gateway.errors import LimiterUnavailable, TooManyCalls
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.settings import load_settings
from tests.fixtures.call_service import RecordingProvider
from tests.fixtures.servers import free_port

SPEC = CallSpec("openai", "http://127.0.0.1:9/v1/realtime/calls", "gpt-realtime", "verse")
Start = Callable[[str], Services]


@pytest.fixture
async def without_redis() -> AsyncIterator[tuple[Start, RecordingProvider]]:
    provider = RecordingProvider()
    started: list[Services] = []

    def start(mode: str) -> Services:
        settings = load_settings(
            api_keys=["acme:k1"],
            redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            limiter_failure_mode=mode,
            max_concurrent_calls=2,
            max_call_seconds=1,
        )
        services = build_services(
            settings, GatewayMetrics(settings, {"acme"}), call_transport=provider
        )
        services.start()
        started.append(services)
        return services

    yield start, provider
    for services in started:
        await services.aclose()


async def live_call(calls: Calls, name: str) -> str:
    admission = await calls.admit("acme", "webrtc", spec=SPEC)
    await calls.go_live(admission, name)
    return admission.record.call_id


async def test_deny_refuses_with_limiter_unavailable(
    without_redis: tuple[Start, RecordingProvider],
) -> None:
    start, _ = without_redis
    with pytest.raises(LimiterUnavailable):
        await start("deny").calls.admit("acme", "webrtc", spec=SPEC)


async def test_local_holds_the_cap_in_process_and_ends_once(
    without_redis: tuple[Start, RecordingProvider],
) -> None:
    start, _ = without_redis
    calls = start("local").calls
    first = await live_call(calls, "rtc_a")
    await live_call(calls, "rtc_b")
    with pytest.raises(TooManyCalls):
        await calls.admit("acme", "webrtc", spec=SPEC)
    record = await calls.find("acme", first)
    ended = await calls.end(record, "caller_hangup")
    assert (ended.state, ended.ended_reason) == ("ended", "caller_hangup")
    assert (await calls.end(record, "max_duration")).ended_reason == "caller_hangup"
    await calls.admit("acme", "webrtc", spec=SPEC)  # its slot came back


async def test_allow_admits_past_the_cap_but_every_call_keeps_its_deadline(
    without_redis: tuple[Start, RecordingProvider],
) -> None:
    start, provider = without_redis
    calls = start("allow").calls
    ids = [await live_call(calls, f"rtc_{i}") for i in range(3)]  # the cap is 2
    async with asyncio.timeout(15):
        while sum(provider.hung_up.values()) < 3:
            await asyncio.sleep(0.05)
    assert provider.hung_up == {"rtc_0": 1, "rtc_1": 1, "rtc_2": 1}
    ended = [await calls.find("acme", call_id) for call_id in ids]
    assert {(r.state, r.ended_reason) for r in ended} == {("ended", "max_duration")}


async def test_a_call_token_cannot_be_redeemed_while_redis_is_down(
    without_redis: tuple[Start, RecordingProvider],
) -> None:
    start, _ = without_redis
    with pytest.raises(StoreUnavailable) as refused:
        await start("allow").calls.admit("acme", "webrtc", token=mint_token("acme"))
    assert (refused.value.status_code, refused.value.error_code) == (503, "calls_unavailable")
