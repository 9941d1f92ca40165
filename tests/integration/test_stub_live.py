"""The official `openai` package against the stub's Live API (base_url=<stub>/v1): a WebRTC session
that speaks, its sideband (`attach`) with cumulative usage, hang-up and the other endings."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import websockets
from openai import AsyncOpenAI, NotFoundError

from tests.fixtures.stub import Caller, RunningStub, connect_answer, new_caller

SILENCE = 0.02


def client_for(stub: RunningStub) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=stub.api_key, base_url=stub.v1, max_retries=0)


async def start_live(
    stub: RunningStub,
    client: AsyncOpenAI,
    tone_seconds: float = 0.0,
    data_channel: dict[str, Any] | None = None,
) -> tuple[Caller, str]:
    caller = await new_caller(tone_seconds)
    session: dict[str, Any] = {
        "model": "gpt-live-1",
        "audio": {"output": {"voice": "cedar"}},
        "instructions": "Be brief.",
    }
    if data_channel is not None:
        session["client"] = {"data_channel": data_channel}
    created = await client.live.create(
        session=session,  # type: ignore[arg-type]
        transport={"type": "webrtc", "sdp": caller.pc.localDescription.sdp},
    )
    assert created.session.id.startswith("live_")
    await connect_answer(caller, created.transport.sdp)
    return caller, created.session.id


async def next_of(connection: Any, event_type: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {event_type} within {timeout} s")
        event = await asyncio.wait_for(connection.recv(), remaining)
        if getattr(event, "type", None) == event_type:
            return event


async def test_live_call_speaks_after_the_caller_and_transcribes(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, session_id = await start_live(stub, client, tone_seconds=0.8)
    try:
        await caller.wait_for_event("session.input_transcript.delta", timeout=10)
        heard_from = time.monotonic()
        await caller.wait_for_event("session.output_transcript.delta", timeout=10)
        await asyncio.sleep(1.0)
        assert caller.level_since(heard_from) > SILENCE, "the Live model answers with speech"
        types = caller.event_types()
        assert types[0] == "session.started"
        started = caller.events[0]["session"]
        assert started["id"] == session_id and started["status"] == "active"
        assert started["audio"]["output"]["voice"] == "cedar"
        deltas = [e for e in caller.events if e["type"] == "session.output_transcript.delta"]
        assert all(d["end_ms"] > d["start_ms"] for d in deltas)
    finally:
        await caller.close()


async def test_sideband_sees_usage_grow_and_hangup_closes(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, session_id = await start_live(stub, client)
    try:
        async with client.live.sideband.connect(session_id=session_id) as sideband:
            first = await next_of(sideband, "session.usage.updated", timeout=5)
            second = await next_of(sideband, "session.usage.updated", timeout=5)
            third = await next_of(sideband, "session.usage.updated", timeout=5)
            seconds = [first.usage.seconds, second.usage.seconds, third.usage.seconds]
            assert seconds == sorted(seconds) and seconds[-1] > seconds[0], seconds
            await client.live.sessions.hangup(session_id)
            closed = await next_of(sideband, "session.closed", timeout=10)
            assert closed.reason == "close_requested"
            assert closed.usage.seconds >= seconds[-1]
        await caller.wait_for_event("session.closed", timeout=5)
        assert caller.events[-1]["type"] == "session.closed"
        assert stub.state.end_reasons() == {session_id: "close_requested"}
        with pytest.raises(NotFoundError):
            await client.live.sessions.hangup(session_id)
    finally:
        await caller.close()


async def test_sideband_response_create_speaks_and_session_close_ends(
    stub: RunningStub,
) -> None:
    client = client_for(stub)
    caller, session_id = await start_live(stub, client)
    try:
        async with client.live.sideband.connect(session_id=session_id) as sideband:
            await next_of(sideband, "session.started")
            await sideband.send({"type": "response.create"})
            await next_of(sideband, "session.output_transcript.delta")
            await sideband.send({"type": "session.close"})
            closed = await next_of(sideband, "session.closed")
        assert closed.reason == "close_requested"
        record = stub.state.record(session_id)
        assert record is not None and record.responses == 1
        assert record.sideband_events == ["response.create", "session.close"]
    finally:
        await caller.close()


async def test_data_channel_permissions_are_enforced(stub: RunningStub) -> None:
    client = client_for(stub)
    permissions = {
        "allowed_client_events": ["session.update"],
        "allowed_server_events": [{"type": "session.started"}, {"type": "error"}],
    }
    caller, session_id = await start_live(stub, client, data_channel=permissions)
    try:
        await caller.wait_for_event("session.started", timeout=5)
        caller.send({"type": "session.close", "event_id": "evt_close"})
        await caller.wait_for_event("error", timeout=5)
        refused = next(e for e in caller.events if e["type"] == "error")
        assert refused["error"]["code"] == "client_event_not_allowed"
        assert refused["error"]["client_event_id"] == "evt_close"
        assert session_id in stub.state.live_call_ids()
        # A sideband is trusted: it sees usage the frontend may not.
        async with client.live.sideband.connect(session_id=session_id) as sideband:
            await next_of(sideband, "session.usage.updated", timeout=5)
        assert "session.usage.updated" not in caller.event_types()
    finally:
        await caller.close()


async def test_duration_limit_expires_and_vanished_peer_is_connection_lost(
    stub: RunningStub,
) -> None:
    stub.state.config.live_max_seconds = 1.5
    client = client_for(stub)
    caller, expiring = await start_live(stub, client)
    try:
        await caller.wait_for_event("session.closed", timeout=10)
        closed = caller.events[-1]
        assert closed["type"] == "session.closed" and closed["reason"] == "expired"
    finally:
        await caller.close()
    stub.state.config.live_max_seconds = 60.0
    vanishing, lost = await start_live(stub, client)
    await vanishing.close()  # the peer goes away without a hang-up
    deadline = time.monotonic() + 15
    while lost in stub.state.live_call_ids() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert stub.state.end_reasons() == {expiring: "expired", lost: "connection_lost"}


async def test_attach_is_for_the_provider_key_only(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, session_id = await start_live(stub, client)
    try:
        url = f"{stub.v1.replace('http', 'ws')}/live/sessions/{session_id}/attach"
        for key, status in (("ek_not_the_key", 401), (stub.api_key, None)):
            headers = {"Authorization": f"Bearer {key}"}
            if status is None:
                async with websockets.connect(url, additional_headers=headers) as ws:
                    assert "session.started" in str(await asyncio.wait_for(ws.recv(), 5))
            else:
                with pytest.raises(websockets.InvalidStatus) as refused:
                    async with websockets.connect(url, additional_headers=headers):
                        pass
                assert refused.value.response.status_code == status
    finally:
        await caller.close()
