"""WebSocket sessions through the gateway (`GET /v1/realtime?model=`), as the official `openai`
package speaks them: a real gateway in front of the offline stub. The session relayed both
ways, usage counted once in the ledger, the leash (cap, deadline, pins, models, frame cap)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI

from realtime_gateway.media.audio import rms
from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.stub import RunningStub
from tests.integration.test_stub_realtime_calls import next_of
from tests.integration.test_stub_realtime_ws import (
    NO_VAD,
    PCM_RATE,
    append_all,
    decoded_audio,
    pcm24,
    speech_wav,
    until_done,
)

WAIT = 20.0


def client_of(gateway: RunningGateway, key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=key or gateway.tenant_key, base_url=gateway.url("/v1"), max_retries=0
    )


def ws_url(gateway: RunningGateway, query: str) -> str:
    return gateway.base_url.replace("http://", "ws://") + "/v1/realtime?" + query


async def usage_today(gateway: RunningGateway) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
        answer = await http.get("/usage", headers=gateway.auth())
    assert answer.status_code == 200, answer.text
    today: dict[str, Any] = answer.json()["today"]
    return today


async def until_counted(gateway: RunningGateway, calls: int) -> dict[str, Any]:
    """Today's ledger once it counts `calls` calls (it may lag the close by a moment)."""
    async with asyncio.timeout(WAIT):
        while True:
            today = await usage_today(gateway)
            if today["calls"] >= calls:
                return today
            await asyncio.sleep(0.05)


async def live_calls(gateway: RunningGateway) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
        answer = await http.get("/realtime_calls", headers=gateway.auth())
    assert answer.status_code == 200, answer.text
    calls: list[dict[str, Any]] = answer.json()["calls"]
    return calls


@pytest.fixture
def relayed(gateway_factory: GatewayFactory, stub: RunningStub) -> RunningGateway:
    return gateway_factory(**wired_to(stub, rate_limit="1000/minute"))


async def test_sdk_session_speech_in_speech_out_counted_once(
    relayed: RunningGateway, stub: RunningStub, tmp_path: Path
) -> None:
    speech = pcm24(speech_wav(tmp_path / "say.wav"))
    client = client_of(relayed)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = await next_of(connection, "session.created")
        assert created.session.model == "gpt-realtime"
        listed = await live_calls(relayed)
        assert [(c["transport"], c["status"]) for c in listed] == [("websocket", "live")]
        await connection.session.update(session=NO_VAD)  # type: ignore[arg-type]
        await next_of(connection, "session.updated")
        await append_all(connection, speech)
        await connection.input_audio_buffer.commit()
        await next_of(connection, "input_audio_buffer.committed")
        await connection.response.create()
        seen, done = await until_done(connection)
    reply = np.frombuffer(b"".join(decoded_audio(seen)), dtype="<i2")
    assert reply.size / PCM_RATE > 1.0
    assert rms(reply) > 0.02, "the reply is speech, not silence"
    usage = done.response.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    today = await until_counted(relayed, 1)
    assert today["calls"] == 1
    assert today["by_transport"]["websocket"]["calls"] == 1
    assert today["tokens"] == {"input": usage.input_tokens, "output": usage.output_tokens}
    await asyncio.sleep(0.3)  # a second count would land now
    assert (await usage_today(relayed))["calls"] == 1
    assert await live_calls(relayed) == []
    # The stub saw one session, opened with the provider key, the client's events relayed.
    sessions = [c for c in stub.state.calls if c.transport == "websocket"]
    assert len(sessions) == 1
    assert "input_audio_buffer.commit" in sessions[0].client_events
    assert "response.create" in sessions[0].client_events


async def test_unknown_key_refused_at_upgrade_in_openai_shape(relayed: RunningGateway) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            ws_url(relayed, "model=gpt-realtime"),
            additional_headers={"Authorization": "Bearer rtg_not_a_key_000000000000"},
        ):
            pass
    response = refused.value.response
    assert response.status_code == 401
    body = json.loads(response.body or b"{}")
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["type"] == "authentication_error"
