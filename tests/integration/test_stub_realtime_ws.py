"""The stub's Realtime WebSocket (`WS /v1/realtime?model=`) as the official `openai` package
speaks it (`client.realtime.connect(model=...)`), and as a browser does (the subprotocol form):
the session, appended speech answered with speech, server VAD, errors, and how sessions end."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from realtime_gateway.media.audio import read_wav, rms, write_wav
from realtime_gateway.media.resampling import resample
from realtime_gateway.media.tracks import SAMPLE_RATE
from realtime_gateway.stub.server import StubConfig, create_stub_app
from realtime_gateway.stub.voice import synthesize
from tests.fixtures.servers import serve_in_thread
from tests.fixtures.stub import STUB_WS, RunningStub
from tests.integration.test_stub_realtime_calls import client_for, next_of

PCM_RATE = 24_000
FRAME_BYTES = 960  # 20 ms of PCM16 24 kHz mono
NO_VAD = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


def speech_wav(path: Path, text: str = "testing one two three") -> Path:
    """A WAV of speech: espeak-ng's where it is installed, else the stub's synthesized voice."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        subprocess.run([espeak, "-w", str(path), text], check=True, timeout=30)
    else:
        write_wav(path, SAMPLE_RATE, synthesize("verse", text, use_espeak=False))
    return path


def pcm24(path: Path, silence_after: float = 0.0) -> bytes:
    """The WAV as the session's input: PCM16 24 kHz mono, and then silence if asked."""
    rate, samples = read_wav(path)
    speech = resample(samples, rate, PCM_RATE)
    quiet = np.zeros(int(silence_after * PCM_RATE), dtype=np.int16)
    return np.concatenate([speech, quiet]).astype("<i2").tobytes()


def frames(pcm: bytes) -> list[str]:
    return [
        base64.b64encode(pcm[at : at + FRAME_BYTES]).decode()
        for at in range(0, len(pcm), FRAME_BYTES)
    ]


async def append_all(connection: Any, pcm: bytes) -> None:
    for chunk in frames(pcm):
        await connection.input_audio_buffer.append(audio=chunk)


async def until_done(connection: Any, timeout: float = 30.0) -> tuple[list[Any], Any]:
    """Every event up to `response.done`, and that event."""
    seen: list[Any] = []
    while True:
        event = await asyncio.wait_for(connection.recv(), timeout)
        seen.append(event)
        if event.type == "response.done":
            return seen, event


def decoded_audio(seen: list[Any]) -> list[bytes]:
    return [base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta"]


def ws_url(stub: RunningStub, query: str) -> str:
    return stub.v1.replace("http://", "ws://") + "/realtime?" + query


async def listed(stub: RunningStub) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            stub.base_url + "/_stub/calls", headers={"Authorization": f"Bearer {stub.api_key}"}
        )
    assert response.status_code == 200
    calls: list[dict[str, Any]] = response.json()["calls"]
    return calls


async def ended(stub: RunningStub, session_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The session's entry in `/_stub/calls` once it has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        entry = next(c for c in await listed(stub) if c["call_id"] == session_id)
        if entry["ended"] or loop.time() > deadline:
            return entry
        await asyncio.sleep(0.05)


async def test_session_created_then_update_applied_and_echoed(stub: RunningStub) -> None:
    client = client_for(stub)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = await next_of(connection, "session.created")
        session = created.session
        assert session.type == "realtime" and session.model == "gpt-realtime"
        assert session.id.startswith("sess_")
        assert session.audio.output.format.rate == 24000
        assert session.audio.input.format.type == "audio/pcm"
        await connection.session.update(
            session={
                "type": "realtime",
                "instructions": "Answer in one sentence.",
                "audio": {"output": {"voice": "coral"}},
            }
        )
        updated = await next_of(connection, "session.updated")
        assert updated.session.instructions == "Answer in one sentence."
        assert updated.session.audio.output.voice == "coral"
        assert updated.session.id == session.id  # the identity stays
        assert updated.session.audio.input.format.rate == 24000  # the rest stays
    entry = await ended(stub, session.id)
    assert entry["transport"] == "websocket" and entry["kind"] == "realtime"
    assert entry["model"] == "gpt-realtime" and entry["voice"] == "coral"
    assert entry["end_reason"] == "client_closed"
    assert entry["client_events"] == ["session.update"]


async def test_appended_speech_committed_and_answered_with_speech(
    stub: RunningStub, tmp_path: Path
) -> None:
    client = client_for(stub)
    speech = pcm24(speech_wav(tmp_path / "say.wav"))
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = await next_of(connection, "session.created")
        await connection.session.update(session=NO_VAD)  # type: ignore[arg-type]
        await next_of(connection, "session.updated")
        await append_all(connection, speech)
        await connection.input_audio_buffer.commit()
        committed = await next_of(connection, "input_audio_buffer.committed")
        assert committed.item_id.startswith("item_")
        await connection.response.create()
        created_response = await next_of(connection, "response.created")
        seen, done = await until_done(connection)
    chunks = decoded_audio(seen)
    assert chunks, "the reply came as audio deltas"
    sizes_ms = {len(chunk) / 2 / PCM_RATE * 1000 for chunk in chunks[:-1]}
    assert all(20 <= size <= 100 for size in sizes_ms), sizes_ms
    reply = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert reply.size / PCM_RATE > 1.0
    assert rms(reply) > 0.02, "the reply is speech, not silence"
    types = [e.type for e in seen]
    assert types.index("response.output_audio.done") > max(
        i for i, t in enumerate(types) if t == "response.output_audio.delta"
    )
    assert "output_audio_buffer.started" not in types, "a WebRTC-only event"
    transcript = "".join(
        e.delta for e in seen if e.type == "response.output_audio_transcript.delta"
    )
    done_transcript = next(e for e in seen if e.type == "response.output_audio_transcript.done")
    assert transcript == done_transcript.transcript and "stub" in transcript
    assert done.response.id == created_response.response.id
    assert done.response.status == "completed"
    usage = done.response.usage
    heard_seconds = len(speech) / 2 / PCM_RATE
    # 10 input tokens per second of speech heard, 20 output tokens per second of reply played.
    assert 0 < usage.input_token_details.audio_tokens <= 10 * heard_seconds + 1
    assert usage.output_token_details.audio_tokens == pytest.approx(
        20 * reply.size / PCM_RATE, abs=2
    )
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    entry = await ended(stub, created.session.id)
    assert entry["input_frames_received"] == len(speech) // FRAME_BYTES  # 20 ms frames heard
    assert entry["client_events"] == [
        "session.update",
        "input_audio_buffer.commit",
        "response.create",
    ]


async def test_server_vad_answers_on_its_own_when_create_response_is_on(
    stub: RunningStub, tmp_path: Path
) -> None:
    client = client_for(stub)
    speech = pcm24(speech_wav(tmp_path / "say.wav"), silence_after=1.0)
    vad = {"type": "server_vad", "create_response": True, "interrupt_response": True}
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = await next_of(connection, "session.created")
        await connection.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": vad}}}  # type: ignore[typeddict-item]
        )
        await next_of(connection, "session.updated")
        await append_all(connection, speech)
        started = await next_of(connection, "input_audio_buffer.speech_started")
        stopped = await next_of(connection, "input_audio_buffer.speech_stopped")
        committed = await next_of(connection, "input_audio_buffer.committed")
        assert started.item_id == stopped.item_id == committed.item_id
        assert 0 <= started.audio_start_ms < stopped.audio_end_ms
        await next_of(connection, "response.created")  # nobody asked: the VAD did
        seen, done = await until_done(connection)
    assert done.response.status == "completed"
    assert rms(np.frombuffer(b"".join(decoded_audio(seen)), dtype="<i2")) > 0.02
    entry = await ended(stub, created.session.id)
    assert "response.create" not in entry["client_events"]
    assert entry["speech_started"] == entry["speech_stopped"] == 1


async def test_one_response_at_a_time_and_cancel(stub: RunningStub) -> None:
    client = client_for(stub)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await next_of(connection, "session.created")
        await connection.response.create()
        await next_of(connection, "response.output_audio.delta")
        await connection.send({"type": "response.create", "event_id": "evt_second"})
        refused = await next_of(connection, "error")
        assert refused.error.type == "invalid_request_error"
        assert refused.error.code == "conversation_already_has_active_response"
        assert refused.error.event_id == "evt_second"
        await connection.response.cancel()
        seen, done = await until_done(connection)
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        await connection.response.cancel()
        nothing = await next_of(connection, "error")
        assert nothing.error.code == "response_cancel_not_active"
        # No audio of the cancelled response follows its `response.done`.
        await connection.session.update(session={"type": "realtime"})
        after = await asyncio.wait_for(connection.recv(), 10)
        assert after.type == "session.updated"


async def test_bad_frames_get_error_events_and_the_session_stays_usable(
    stub: RunningStub,
) -> None:
    client = client_for(stub)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await next_of(connection, "session.created")
        await connection.send_raw("this is not json")
        not_json = await next_of(connection, "error")
        assert not_json.error.type == "invalid_request_error"
        assert not_json.error.code == "invalid_json"
        await connection.send_raw(b"\x00\x01binary")
        assert (await next_of(connection, "error")).error.code == "invalid_json"
        await connection.send_raw(json.dumps({"type": "input_audio_buffer.append", "audio": "!!"}))
        assert (await next_of(connection, "error")).error.code == "invalid_value"
        await connection.send_raw(json.dumps({"type": "no.such.event", "event_id": "evt_x"}))
        unknown = await next_of(connection, "error")
        assert (unknown.error.code, unknown.error.event_id) == ("invalid_value", "evt_x")
        await connection.input_audio_buffer.commit()  # nothing appended
        empty = await next_of(connection, "error")
        assert empty.error.code == "input_audio_buffer_commit_empty"
        await connection.input_audio_buffer.append(audio=base64.b64encode(bytes(9600)).decode())
        await connection.input_audio_buffer.clear()
        await next_of(connection, "input_audio_buffer.cleared")
        await connection.session.update(session={"type": "realtime", "instructions": "Still here."})
        updated = await next_of(connection, "session.updated")
        assert updated.session.instructions == "Still here."


async def test_a_bad_key_is_refused_before_the_upgrade(stub: RunningStub) -> None:
    before = len(stub.state.calls)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with client_for(stub, "sk-not-the-key").realtime.connect(model="gpt-realtime"):
            pass
    response = refused.value.response
    assert response.status_code == 401
    body = json.loads(response.body)
    assert body["error"]["code"] == "invalid_api_key"
    assert body["error"]["type"] == "invalid_request_error"
    assert "sk-not-the-key" not in response.body.decode()
    with pytest.raises(websockets.InvalidStatus) as bare:
        async with websockets.connect(ws_url(stub, "model=gpt-realtime")):
            pass
    assert bare.value.response.status_code == 401
    assert json.loads(bare.value.response.body)["error"]["code"] == "missing_api_key"
    with pytest.raises(websockets.InvalidStatus) as no_model:
        headers = {"Authorization": f"Bearer {stub.api_key}"}
        async with websockets.connect(ws_url(stub, "voice=x"), additional_headers=headers):
            pass
    assert no_model.value.response.status_code == 400
    assert json.loads(no_model.value.response.body)["error"]["param"] == "model"
    assert len(stub.state.calls) == before, "a refused upgrade is no session"


async def test_browser_subprotocols_with_a_minted_secret(stub: RunningStub) -> None:
    client = client_for(stub)
    minted = await client.realtime.client_secrets.create(
        session={
            "type": "realtime",
            "model": "gpt-realtime",
            "audio": {"output": {"voice": "sage"}},
        }
    )
    protocols = ["realtime", f"openai-insecure-api-key.{minted.value}"]
    async with websockets.connect(
        ws_url(stub, "model=gpt-realtime"),
        subprotocols=protocols,  # type: ignore[arg-type]
    ) as browser:
        assert browser.subprotocol == "realtime"
        created = json.loads(await asyncio.wait_for(browser.recv(), 10))
        assert created["type"] == "session.created"
        assert created["session"]["id"] == minted.session.id  # type: ignore[union-attr]
        assert created["session"]["audio"]["output"]["voice"] == "sage"
    stub.state.advance_clock(3600)
    with pytest.raises(websockets.InvalidStatus) as expired:
        async with websockets.connect(ws_url(stub, "model=gpt-realtime"), subprotocols=protocols):  # type: ignore[arg-type]
            pass
    assert expired.value.response.status_code == 401


async def test_transcription_intent_transcribes_and_makes_no_responses(
    stub: RunningStub, tmp_path: Path
) -> None:
    speech = pcm24(speech_wav(tmp_path / "say.wav"))
    headers = {"Authorization": f"Bearer {stub.api_key}"}
    async with websockets.connect(
        ws_url(stub, "intent=transcription"), additional_headers=headers
    ) as socket:
        created = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert created["session"]["type"] == "transcription"
        await socket.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "transcription",
                        "audio": {"input": {"turn_detection": None}},
                    },
                }
            )
        )
        for chunk in frames(speech):
            await socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
        await socket.send(json.dumps({"type": "response.create"}))
        seen: list[dict[str, Any]] = []
        while not any(e["type"] == "error" for e in seen) or not any(
            e["type"].endswith("transcription.completed") for e in seen
        ):
            seen.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
    completed = next(e for e in seen if e["type"].endswith("transcription.completed"))
    committed = next(e for e in seen if e["type"] == "input_audio_buffer.committed")
    assert completed["item_id"] == committed["item_id"]
    assert completed["usage"]["type"] == "duration"
    assert completed["usage"]["seconds"] == pytest.approx(len(speech) / 2 / PCM_RATE, abs=0.05)
    assert not any(e["type"].startswith("response.") for e in seen)
    entry = await ended(stub, created["session"]["id"])
    assert entry["kind"] == "transcription" and entry["transport"] == "websocket"


async def test_max_duration_ends_the_session_with_an_error_event(stub: RunningStub) -> None:
    stub.state.config.max_call_seconds = 1.0
    client = client_for(stub)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = await next_of(connection, "session.created")
        expired = await next_of(connection, "error")
        assert expired.error.code == "session_expired"
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(connection.recv(), 10)
    entry = await ended(stub, created.session.id)
    assert entry["end_reason"] == "max_duration"


async def test_faults_refuse_the_upgrade_or_drop_the_session(stub: RunningStub) -> None:
    headers = {"Authorization": f"Bearer {stub.api_key}"}
    stub.state.call_faults.set(session_refuse=503)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(stub, "model=m"), additional_headers=headers):
            pass
    assert refused.value.response.status_code == 503
    stub.state.call_faults.set(session_drop_after=1)
    async with websockets.connect(ws_url(stub, "model=m"), additional_headers=headers) as socket:
        created = json.loads(await asyncio.wait_for(socket.recv(), 10))
        with pytest.raises(websockets.ConnectionClosedError) as dropped:
            await asyncio.wait_for(socket.recv(), 10)
    assert dropped.value.rcvd is not None and dropped.value.rcvd.code == 1011
    entry = await ended(stub, created["session"]["id"])
    assert entry["end_reason"] == "server_closed"


async def test_a_stopping_stub_ends_its_sessions_with_shutdown() -> None:
    app = create_stub_app(StubConfig(api_key="sk-shutdown-ws"))
    state = app.state.stub
    headers = {"Authorization": "Bearer sk-shutdown-ws"}
    with serve_in_thread(app, ws=STUB_WS) as served:
        url = served.base_url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
        socket = await websockets.connect(url, additional_headers=headers)
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "session.created"
    try:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        [record] = state.calls
        assert record.ended and record.end_reason == "shutdown"
    finally:
        await socket.close()
