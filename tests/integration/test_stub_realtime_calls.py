"""The official `openai` package against the stub's Realtime GA call control (base_url=<stub>/v1):
create a call (unified interface), watch and steer it over the sideband, hang it up."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import websockets
from openai import AsyncOpenAI, NotFoundError

from tests.fixtures.stub import Caller, RunningStub, connect_answer, new_caller

SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Answer briefly."}


async def start_unified_call(
    stub: RunningStub, client: AsyncOpenAI, tone_seconds: float = 0.0
) -> tuple[Caller, str]:
    caller = await new_caller(tone_seconds)
    raw = await client.realtime.calls.with_raw_response.create(
        sdp=caller.pc.localDescription.sdp,
        session=SESSION,  # type: ignore[arg-type]
    )
    assert raw.http_response.status_code == 201
    location = raw.headers["location"]
    assert location.startswith("/v1/realtime/calls/rtc_")
    await connect_answer(caller, raw.http_response.text)
    return caller, location.rsplit("/", 1)[1]


async def next_of(connection: Any, event_type: str, timeout: float = 10.0) -> Any:
    """The next server event of this type on an openai realtime connection."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {event_type} within {timeout} s")
        event = await asyncio.wait_for(connection.recv(), remaining)
        if event.type == event_type:
            return event


def client_for(stub: RunningStub, key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key or stub.api_key, base_url=stub.v1, max_retries=0)


async def test_sideband_sees_events_and_response_done_with_usage(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client)
    try:
        async with client.realtime.connect(call_id=call_id) as sideband:
            created = await next_of(sideband, "session.created")
            # The unified interface's `session` configured the call.
            assert created.session.instructions == "Answer briefly."
            await sideband.send({"type": "response.create"})
            done = await next_of(sideband, "response.done", timeout=20)
        usage = done.response.usage
        assert done.response.status == "completed"
        assert usage.output_token_details.audio_tokens > 0  # the audio that was played
        assert usage.output_token_details.text_tokens == len(
            done.response.output[0].content[0].transcript.split()
        )
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        # The caller heard it, and its data channel carried the same response.
        await caller.wait_for_event("response.done", timeout=5)
        assert caller.events[-1]["type"] in ("response.done", "output_audio_buffer.stopped")
        assert stub.state.record(call_id).sideband_events == ["response.create"]  # type: ignore[union-attr]
    finally:
        await caller.close()


async def test_usage_grows_with_the_audio_heard(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client, tone_seconds=1.0)
    try:
        async with client.realtime.connect(call_id=call_id) as sideband:
            await next_of(sideband, "input_audio_buffer.committed", timeout=10)
            await sideband.send({"type": "response.create"})
            done = await next_of(sideband, "response.done", timeout=20)
        heard = done.response.usage.input_token_details.audio_tokens
        # 10 tokens per second of speech heard: the one-second tone is about 10.
        assert 7 <= heard <= 13, heard
    finally:
        await caller.close()


async def test_hangup_ends_the_peer_and_the_sideband(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client)
    try:
        async with client.realtime.connect(call_id=call_id) as sideband:
            await next_of(sideband, "session.created")
            await client.realtime.calls.hangup(call_id)
            with pytest.raises(websockets.ConnectionClosedOK):
                while True:
                    await asyncio.wait_for(sideband.recv(), 10)
        record = stub.state.record(call_id)
        assert record is not None and record.ended and record.end_reason == "hangup"
        assert call_id not in stub.state.live_call_ids()
        deadline = time.monotonic() + 10
        while caller.pc.connectionState != "closed" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert caller.pc.connectionState == "closed"
        with pytest.raises(NotFoundError) as unknown:
            await client.realtime.calls.hangup(call_id)
        assert unknown.value.code == "call_id_not_found"
    finally:
        await caller.close()


async def test_sideband_refuses_a_minted_secret_and_unknown_calls(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client)
    try:
        minted = await client.realtime.client_secrets.create(
            session={"type": "realtime", "model": "gpt-realtime"}
        )
        url = stub.v1.replace("http", "ws") + "/realtime?call_id="

        async def status_of(target: str, key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(target, additional_headers=headers):
                    pass
            return refused.value.response.status_code

        assert await status_of(url + call_id, minted.value) == 401
        assert await status_of(url + "rtc_unknown", stub.api_key) == 404
        stub.state.call_faults.set(sideband_refuse=503)
        assert await status_of(url + call_id, stub.api_key) == 503
    finally:
        await caller.close()


async def test_sideband_dropped_mid_call_leaves_the_call_up(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client)
    try:
        stub.state.call_faults.set(sideband_drop_after=1)
        async with client.realtime.connect(call_id=call_id) as sideband:
            await next_of(sideband, "session.created")
            with pytest.raises(websockets.ConnectionClosedError):
                await asyncio.wait_for(sideband.recv(), 10)
        assert call_id in stub.state.live_call_ids()
        stub.state.call_faults.clear()
        async with client.realtime.connect(call_id=call_id) as again:
            await next_of(again, "session.created")
    finally:
        await caller.close()


async def test_hangup_fails_once_with_500(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client)
    try:
        stub.state.call_faults.set(hangup_fail_once=True)
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"{stub.v1}/realtime/calls/{call_id}/hangup"
            headers = {"Authorization": f"Bearer {stub.api_key}"}
            first = await http.post(url, headers=headers)
            assert first.status_code == 500
            assert first.json()["error"]["type"] == "server_error"
            assert call_id in stub.state.live_call_ids()
            second = await http.post(url, headers=headers)
            assert second.status_code == 200
        assert stub.state.end_reasons() == {call_id: "hangup"}
    finally:
        await caller.close()


async def test_cors_preflight_allows_what_the_browser_sdk_sends(stub: RunningStub) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.options(
            stub.calls_url,
            headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-openai-agents-sdk",
            },
        )
    assert response.status_code == 200, response.text
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "x-openai-agents-sdk" in allowed and "authorization" in allowed
    assert "location" in (await _exposed_headers(stub)).lower()


async def _exposed_headers(stub: RunningStub) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            stub.calls_url, headers={"Origin": "http://localhost:5173"}, content=b""
        )
    return response.headers.get("access-control-expose-headers", "")


async def test_calls_listing_shows_live_calls_and_why_each_ended(stub: RunningStub) -> None:
    client = client_for(stub)
    caller, call_id = await start_unified_call(stub, client)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            headers = {"Authorization": f"Bearer {stub.api_key}"}
            live = (await http.get(f"{stub.base_url}/_stub/calls", headers=headers)).json()
            assert [(c["call_id"], c["ended"]) for c in live["calls"]] == [(call_id, False)]
            await client.realtime.calls.hangup(call_id)
            ended = (await http.get(f"{stub.base_url}/_stub/calls", headers=headers)).json()
            assert ended["calls"][0]["end_reason"] == "hangup"
            refused = await http.get(f"{stub.base_url}/_stub/calls")
            assert refused.status_code == 401
    finally:
        await caller.close()
