"""The whole machine flow in-process: `GatewayClient.connect` through the gateway to the stub."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from realtime_gateway.client import (
    GatewayClient,
    ProviderError,
    RateLimitedError,
    UnauthorizedError,
)
from realtime_gateway.media.audio import rms
from realtime_gateway.media.tracks import SAMPLE_RATE
from tests.fixtures.gateway import wired_to

MODEL = "gpt-realtime"
VOICE = "verse"


def speech_like(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """A voiced, syllable-modulated 180 Hz buzz: loud enough for the stub's speech detector."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    carrier = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 6))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    signal = carrier / np.max(np.abs(carrier)) * envelope * amplitude
    return (signal * 32767).astype(np.int16)


async def test_connect_records_speech_and_events(gateway: Any, stub: Any) -> None:
    async with (
        GatewayClient(gateway.base_url, gateway.tenant_key) as client,
        client.connect(MODEL, VOICE, ice_timeout=10) as call,
    ):
        assert call.connected_after is not None and call.connected_after < 10
        await call.wait_for_event("session.created", timeout=5)
        # A model speaks when asked, as OpenAI's does.
        await call.send_event({"type": "response.create"})
        await _wait(lambda: call.seconds_received >= 1.5, timeout=10)
        audio = call.audio()
    assert rms(audio) > 0.02, "the stub's answer should be audible"
    assert call.first_audio_after is not None
    assert stub.state.calls and stub.state.calls[-1].connected


async def test_input_wav_reaches_the_provider(gateway: Any, stub: Any) -> None:
    samples = speech_like(1.0)
    async with (
        GatewayClient(gateway.base_url, gateway.tenant_key) as client,
        client.connect(MODEL, VOICE, input_samples=samples) as call,
    ):
        await _wait(lambda: call.input_track.input_done, timeout=10)
        await _wait(lambda: stub.state.calls[-1].input_rms_max > 0.05, timeout=5)
    record = stub.state.calls[-1]
    assert record.input_frames_received >= 40
    assert record.input_rms_max > 0.05


async def test_send_event_reaches_the_provider(gateway: Any, stub: Any) -> None:
    async with (
        GatewayClient(gateway.base_url, gateway.tenant_key) as client,
        client.connect(MODEL, VOICE) as call,
    ):
        await call.send_event({"type": "response.create"})
        await _wait(lambda: "response.create" in stub.state.calls[-1].client_events, timeout=5)


async def test_secret_never_in_received_events(gateway: Any, stub: Any) -> None:
    async with (
        GatewayClient(gateway.base_url, gateway.tenant_key) as client,
        client.connect(MODEL, VOICE) as call,
    ):
        await call.wait_for_event("session.created", timeout=5)
        assert call.session is not None
        secret = call.session.client_secret.value
        assert all(secret not in repr(event) for event in call.received_events)


async def test_each_call_mints_a_fresh_secret(gateway: Any, stub: Any) -> None:
    secrets: list[str] = []
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        for _ in range(2):
            async with client.connect(MODEL, VOICE) as call:
                assert call.session is not None
                secrets.append(call.session.client_secret.value)
    assert len(set(secrets)) == 2


async def test_bad_key_raises_unauthorized_before_any_call(gateway: Any, stub: Any) -> None:
    async with GatewayClient(gateway.base_url, "rtg_wrong_key_000000000000") as client:
        with pytest.raises(UnauthorizedError):
            async with client.connect(MODEL, VOICE):
                pass
    assert stub.state.calls == []


async def test_provider_fault_raises_provider_error(gateway: Any, stub: Any) -> None:
    stub.state.set_fault(status=500)
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        with pytest.raises(ProviderError) as caught:
            await client.create_session(MODEL, VOICE)
    assert caught.value.status == 500


async def test_rate_limit_raises_with_retry_after(gateway_factory: Any, stub: Any) -> None:
    limited = gateway_factory(**wired_to(stub, rate_limit="1/minute"))
    async with GatewayClient(limited.base_url, limited.tenant_key) as client:
        await client.create_session(MODEL, VOICE)
        with pytest.raises(RateLimitedError) as caught:
            await client.create_session(MODEL, VOICE)
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60


async def _wait(condition: Any, timeout: float) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
