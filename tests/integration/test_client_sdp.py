"""The SDP leg: a fresh secret per offer, one retry when the provider says 401 (expired), typed
refusals, and the ICE bound. A real proxy in front of the stub plays the misbehaving provider."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from realtime_gateway.client import GatewayClient, IceTimeoutError, SdpRefusedError
from tests.integration.provider_proxy import Proxied, proxied_gateway

MODEL = "gpt-realtime"
VOICE = "verse"


@pytest.fixture
def proxied(stub: Any, gateway_factory: Any) -> Iterator[Proxied]:
    with proxied_gateway(stub, gateway_factory) as running:
        yield running


async def test_expired_secret_at_sdp_is_minted_again_once(proxied: Proxied, stub: Any) -> None:
    proxied.plan.refusals = [401]
    gateway = proxied.gateway
    async with (
        GatewayClient(gateway.base_url, gateway.tenant_key) as client,
        client.connect(MODEL, VOICE) as call,
    ):
        await call.wait_for_event("session.created", timeout=5)
        assert call.session is not None
        last_secret = call.session.client_secret.value
    first, second = proxied.plan.offers_seen
    assert first != second, "the retry must carry a freshly minted secret"
    assert second == f"Bearer {last_secret}"
    assert len(stub.state.calls) == 1


async def test_sdp_401_twice_is_refused_after_one_retry(proxied: Proxied, stub: Any) -> None:
    proxied.plan.refusals = [401, 401]
    gateway = proxied.gateway
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        with pytest.raises(SdpRefusedError) as caught:
            async with client.connect(MODEL, VOICE):
                pass
    assert caught.value.status == 401 and caught.value.error_code == "sdp_refused"
    assert len(proxied.plan.offers_seen) == 2
    assert stub.state.calls == []


async def test_other_sdp_refusal_is_not_retried(proxied: Proxied) -> None:
    proxied.plan.refusals = [403]
    gateway = proxied.gateway
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        with pytest.raises(SdpRefusedError) as caught:
            async with client.connect(MODEL, VOICE):
                pass
    assert caught.value.status == 403
    assert len(proxied.plan.offers_seen) == 1
    for bearer in proxied.plan.offers_seen:
        assert bearer.removeprefix("Bearer ") not in str(caught.value)


async def test_ice_that_cannot_connect_times_out_within_the_bound(proxied: Proxied) -> None:

    proxied.plan.break_candidates = True
    gateway = proxied.gateway
    started = time.monotonic()
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        with pytest.raises(IceTimeoutError) as caught:
            async with client.connect(MODEL, VOICE, ice_timeout=1.5):
                pass
    assert caught.value.error_code == "ice_timeout"
    assert time.monotonic() - started < 8
