"""The leash on brokered calls, end to end: a real gateway on a real redis-server in front of
the offline stub. The live-call cap under 20 concurrent creations, the deadline and the budget
hanging calls up at the provider, and the caller reading why its call ended."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.stub import RunningStub, ToneTrack, call_stub

BODY = {"model": "gpt-realtime", "voice": "verse"}
WAIT = 20.0


def leashed(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str, **policy: Any
) -> RunningGateway:
    return gateway_factory(
        **wired_to(
            stub, call_mode="brokered", redis_url=redis_url, rate_limit="1000/minute", **policy
        )
    )


async def mint(http: httpx.AsyncClient, gateway: RunningGateway) -> str:
    response = await http.post("/realtime_session", json=BODY, headers=gateway.auth())
    assert response.status_code == 200, response.text
    token: str = response.json()["session"]["client_secret"]["value"]
    return token


async def offer_sdp() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTrack(ToneTrack(0.2))
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def post_offer(http: httpx.AsyncClient, token: str, sdp: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    return await http.post("/realtime_calls", content=sdp, headers=headers)


async def call_state(http: httpx.AsyncClient, location: str, token: str) -> dict[str, Any]:
    answer = await http.get(location, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def until_ended(http: httpx.AsyncClient, location: str, token: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while (state := await call_state(http, location, token))["status"] == "live":
            await asyncio.sleep(0.1)
    return state


async def test_cap_holds_under_20_concurrent_brokered_creations(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url, max_concurrent_calls=3)
    sdp = await offer_sdp()
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        tokens = [await mint(http, gateway) for _ in range(20)]
        answers = await asyncio.gather(*(post_offer(http, token, sdp) for token in tokens))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * 3 + [429] * 17
        refused = [answer for answer in answers if answer.status_code == 429]
        assert {answer.json()["error_code"] for answer in refused} == {"too_many_calls"}
        assert len(stub.state.calls) == 3  # a refused call never reached the provider
        usage = (await http.get("/usage", headers=gateway.auth())).json()
        assert usage["live_calls"] == 3

        location = next(a.headers["location"] for a in answers if a.status_code == 201)
        ended = await http.delete(location, headers=gateway.auth())
        assert ended.json()["status"] == "ended"
        assert ended.json()["ended_reason"] == "caller_hangup"
        again = await post_offer(http, await mint(http, gateway), sdp)
        assert again.status_code == 201  # the slot came back, once
        full = await post_offer(http, await mint(http, gateway), sdp)
        assert full.status_code == 429
        usage = (await http.get("/usage", headers=gateway.auth())).json()
        assert usage["today"]["calls"] == 1 and usage["live_calls"] == 3


async def test_the_deadline_hangs_the_call_up_at_the_provider(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url, max_call_seconds=2)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        token = await mint(http, gateway)
        caller = await call_stub(gateway.url("/realtime_calls"), token, tone_seconds=0.5)
        try:
            assert caller.answer_response is not None
            location = caller.answer_response.headers["location"]
            live = await call_state(http, location, token)
            assert live["status"] == "live"
            [stub_call] = stub.state.calls
            peer = stub.state.active[stub_call.call_id]
            stub_seconds = 0.0  # the stub's own account of the call, last seen while live
            async with asyncio.timeout(WAIT):
                while not stub_call.ended:
                    stub_seconds = peer.session_ms / 1000
                    await asyncio.sleep(0.02)
            state = await until_ended(http, location, token)
        finally:
            await caller.pc.close()
        assert state["ended_reason"] == "max_duration"
        assert stub_call.ended  # hung up at the provider, not only forgotten
        usage = (await http.get("/usage", headers=gateway.auth())).json()
        assert usage["today"]["calls"] == 1
        assert usage["today"]["audio_seconds"] >= 2
        assert abs(usage["today"]["audio_seconds"] - stub_seconds) <= 1.0


async def test_the_budget_ends_a_call_midway_and_refuses_the_next(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url, daily_audio_seconds=1)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        token = await mint(http, gateway)
        caller = await call_stub(gateway.url("/realtime_calls"), token, tone_seconds=0.5)
        try:
            assert caller.answer_response is not None
            location = caller.answer_response.headers["location"]
            state = await until_ended(http, location, token)
        finally:
            await caller.pc.close()
        assert state["ended_reason"] == "quota_exceeded"
        assert stub.state.calls[0].ended
        refused = await post_offer(http, await mint(http, gateway), await offer_sdp())
        assert refused.status_code == 429
        assert refused.json()["error_code"] == "quota_exceeded"
        assert 1 <= int(refused.headers["retry-after"]) <= 86400
        usage = (await http.get("/usage", headers=gateway.auth())).json()
        assert usage["audio_seconds_left"] == 0
