"""A real aiortc caller against the stub: it must hear speech and get provider-shaped events."""

from __future__ import annotations

import asyncio
import time

import httpx

from realtime_gateway.media import ice
from realtime_gateway.stub.server import StubConfig, create_stub_app
from tests.fixtures.servers import serve_in_thread
from tests.fixtures.stub import RunningStub, call_stub

SILENCE = 0.02  # RMS (fraction of full scale) below which we call it silence


async def mint_ga(stub: RunningStub, voice: str = "verse", seconds: int = 60) -> str:
    body = {
        "expires_after": {"anchor": "created_at", "seconds": seconds},
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "audio": {"output": {"voice": voice}},
        },
    }
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            stub.ga_endpoint, json=body, headers={"Authorization": f"Bearer {stub.api_key}"}
        )
    assert response.status_code == 200, response.text
    value: str = response.json()["value"]
    return value


async def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def test_caller_hears_speech_and_gets_session_created(stub: RunningStub) -> None:
    secret = await mint_ga(stub)
    caller = await call_stub(stub.calls_url, secret, tone_seconds=0.8)
    try:
        await asyncio.wait_for(caller.channel_open.wait(), 5)
        started = time.monotonic()
        await asyncio.sleep(1.0)
        assert caller.level_since(started) < 0.005, "a model speaks only when asked"
        asked = time.monotonic()
        caller.send({"type": "response.create"})
        await asyncio.sleep(1.5)
        level = caller.level_since(asked)
        await caller.wait_for_event("session.created", timeout=5)
        assert caller.event_types()[0] == "session.created"
        session = caller.events[0]["session"]
        assert session["model"] == "gpt-realtime"
        assert session["audio"]["output"]["voice"] == "verse"
        assert level > SILENCE, f"received audio RMS {level:.4f} is not speech"
        assert caller.answer_response is not None
        location = caller.answer_response.headers["location"]
        assert location.startswith("/v1/realtime/calls/rtc_")

        [record] = stub.state.calls
        assert record.call_id == location.rsplit("/", 1)[1]
        assert record.connected and record.voice == "verse"
        assert record.input_frames_received > 50  # 20 ms frames: > 1 s of the caller's audio
        assert record.input_rms_max > 0.1  # the 0.3-amplitude tone arrived, not silence
        await wait_until(lambda: record.speech_stopped >= 1, 3.0, "speech_stopped")
        assert record.speech_started == 1
        assert "input_audio_buffer.speech_started" in caller.event_types()
        assert "input_audio_buffer.speech_stopped" in caller.event_types()
    finally:
        await caller.close()
    await wait_until(lambda: stub.state.calls[0].ended, 10.0, "the stub ending the call")
    assert stub.state.calls[0].end_reason == "hangup"
    assert not stub.state.active


async def test_response_create_speaks_again_with_transcript(stub: RunningStub) -> None:
    stub.state.config.greet = True
    secret = await mint_ga(stub, voice="alloy")
    caller = await call_stub(stub.calls_url, secret, tone_seconds=0.0)
    try:
        await caller.wait_for_event("response.done", timeout=10)
        await caller.wait_for_event("output_audio_buffer.stopped", timeout=10)
        quiet_from = time.monotonic()
        await asyncio.sleep(0.5)
        assert caller.level_since(quiet_from) < 0.005, "between responses the stub is silent"

        asked = time.monotonic()
        caller.send({"type": "response.create"})
        await caller.wait_for_event("response.done", count=2, timeout=10)
        await asyncio.sleep(1.0)
        assert caller.level_since(asked) > SILENCE

        second = caller.events[caller.event_types().index("response.created", 2) :]
        types = [e["type"] for e in second]
        assert (
            types.index("response.created")
            < types.index("response.output_audio_transcript.delta")
            < types.index("response.output_audio_transcript.done")
            < types.index("response.done")
        )
        deltas = [
            e["delta"] for e in second if e["type"] == "response.output_audio_transcript.delta"
        ]
        done = next(e for e in second if e["type"] == "response.output_audio_transcript.done")
        assert len(deltas) > 3 and "".join(deltas) == done["transcript"]
        response_done = next(e for e in second if e["type"] == "response.done")
        assert response_done["response"]["status"] == "completed"
        assert stub.state.calls[0].responses == 2
        assert stub.state.calls[0].client_events == ["response.create"]
    finally:
        await caller.close()


async def test_beta_session_and_sdp_endpoint(stub: RunningStub) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        minted = await http.post(
            stub.beta_endpoint,
            json={"model": "gpt-4o-realtime-preview", "voice": "echo"},
            headers={"Authorization": f"Bearer {stub.api_key}"},
        )
    secret = minted.json()["client_secret"]["value"]
    url = stub.base_url + "/v1/realtime?model=gpt-4o-realtime-preview"
    caller = await call_stub(url, secret, tone_seconds=0.0)
    try:
        await caller.wait_for_event("session.created", timeout=5)
        [record] = stub.state.calls
        assert caller.answer_response is not None
        assert caller.answer_response.headers["location"] == f"/v1/realtime/calls/{record.call_id}"
        assert (record.model, record.voice) == ("gpt-4o-realtime-preview", "echo")
        assert caller.events[0]["session"]["model"] == "gpt-4o-realtime-preview"
    finally:
        await caller.close()


async def test_multipart_offer_session_overrides_voice(stub: RunningStub) -> None:
    secret = await mint_ga(stub, voice="verse")
    session = {"type": "realtime", "model": "gpt-realtime", "audio": {"output": {"voice": "coral"}}}
    caller = await call_stub(stub.calls_url, secret, tone_seconds=0.0, multipart_session=session)
    try:
        await caller.wait_for_event("session.created", timeout=5)
        assert stub.state.calls[0].voice == "coral"
    finally:
        await caller.close()


async def test_call_ends_after_max_call_seconds(stub: RunningStub) -> None:
    stub.state.config.max_call_seconds = 1.0
    caller = await call_stub(stub.calls_url, await mint_ga(stub), tone_seconds=0.0)
    try:
        await wait_until(lambda: stub.state.calls[0].ended, 5.0, "the max-duration hang-up")
        assert stub.state.calls[0].end_reason == "max_duration"
        await wait_until(lambda: caller.pc.connectionState == "closed", 5.0, "caller seeing it")
    finally:
        await caller.close()


async def test_app_shutdown_closes_every_call() -> None:
    ice.use_loopback_only()
    app = create_stub_app(StubConfig(api_key="sk-shutdown-test", loopback_ice=True))
    state = app.state.stub
    with serve_in_thread(app) as served:
        running = RunningStub(base_url=served.base_url, api_key="sk-shutdown-test", state=state)
        caller = await call_stub(running.calls_url, await mint_ga(running), tone_seconds=0.0)
        await caller.wait_for_event("session.created", timeout=5)
        assert state.active
    try:
        [record] = state.calls
        assert record.ended and record.end_reason == "shutdown"
        assert not state.active
        await wait_until(lambda: caller.pc.connectionState == "closed", 5.0, "caller seeing it")
    finally:
        await caller.close()
