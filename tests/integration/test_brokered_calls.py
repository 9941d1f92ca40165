"""Brokered mode end to end against the offline stub: a call token in place of a provider
secret, the SDP exchange through the gateway, the caller's view of its calls, and every refusal
with its documented error. Nothing the caller receives carries a provider credential."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from realtime_gateway.client import GatewayClient
from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.tokens import mint_token
from realtime_gateway.gateway.redisconn import make_client
from realtime_gateway.media.audio import rms
from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.servers import free_port
from tests.fixtures.stub import Caller, RunningStub, ToneTrack, call_stub

BODY = {"model": "gpt-realtime", "voice": "verse"}


@pytest.fixture
def brokered(gateway_factory: GatewayFactory, stub: RunningStub) -> RunningGateway:
    return gateway_factory(**wired_to(stub, call_mode="brokered"))


def mint(gateway: RunningGateway, key: str | None = None) -> dict[str, Any]:
    response = httpx.post(gateway.url("/realtime_session"), json=BODY, headers=gateway.auth(key))
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()["session"]
    return session


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json().keys() == {"error_code", "message"}
    assert response.json()["error_code"] == code


def test_brokered_mint_hands_out_a_call_token_and_calls_no_provider(
    brokered: RunningGateway, stub: RunningStub
) -> None:
    session = mint(brokered)
    assert session["client_secret"]["value"].startswith("ek_rtg_")
    assert session["webrtc_url"] == brokered.url("/realtime_calls")
    assert session["model"] == "gpt-realtime" and session["voice"] == "verse"
    assert stub.state.mint_requests == 0


async def test_brokered_call_speaks_and_no_provider_secret_reaches_the_caller(
    brokered: RunningGateway, stub: RunningStub
) -> None:
    session = mint(brokered)
    token = session["client_secret"]["value"]
    # A silent microphone: the stub's voice activity detection would cut its reply short.
    caller: Caller = await call_stub(session["webrtc_url"], token, tone_seconds=0.0)
    try:
        answer = caller.answer_response
        assert answer is not None and answer.status_code == 201
        assert answer.headers["content-type"].startswith("application/sdp")
        location = answer.headers["location"]
        assert location.startswith("/realtime_calls/call_")
        call_id = location.rsplit("/", 1)[1]
        await asyncio.wait_for(caller.channel_open.wait(), 10)
        caller.send({"type": "response.create"})  # a model speaks when asked
        await caller.wait_for_event("response.done", timeout=20)
        assert caller.level_since(0.0) > 0.01  # the stub voice arrived

        [stub_call] = stub.state.calls
        assert stub_call.model == "gpt-realtime" and stub_call.voice == "verse"
        received = str(answer.headers) + answer.text + str(caller.events)
        async with httpx.AsyncClient(base_url=brokered.base_url) as http:
            listed = await http.get("/realtime_calls", headers=brokered.auth())
            by_token = await http.get(location, headers={"Authorization": f"Bearer {token}"})
            other = await http.get(location, headers=brokered.auth(brokered.other_tenant_key))
            received += listed.text + str(listed.headers) + by_token.text + str(by_token.headers)
            assert [call["id"] for call in listed.json()["calls"]] == [call_id]
            assert by_token.json()["status"] == "live"
            assert_error(other, 404, "not_found")
            ended = await http.delete(location, headers={"Authorization": f"Bearer {token}"})
            received += ended.text + str(ended.headers)
            assert ended.json()["status"] == "ended"
            assert ended.json()["ended_reason"] == "caller_hangup"
            assert (await http.get("/realtime_calls", headers=brokered.auth())).json() == {
                "calls": []
            }
        deadline = time.monotonic() + 10
        while not stub_call.ended and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert stub_call.ended  # hung up at the provider, not just forgotten
        assert stub.api_key not in received
        assert stub_call.call_id not in received  # the provider's handle on the call
        assert stub.state.mint_count == 0  # no provider secret was ever minted
    finally:
        await caller.close()


async def test_call_token_refusals_have_documented_errors(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = gateway_factory(**wired_to(stub, call_mode="brokered", redis_url=redis_url))
    calls = gateway.url("/realtime_calls")
    token = mint(gateway)["client_secret"]["value"]
    pc, sdp = await make_offer()
    offer = sdp.encode()
    try:
        async with httpx.AsyncClient(timeout=20) as http:

            async def post(token: str, body: bytes) -> httpx.Response:
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
                return await http.post(calls, content=body, headers=headers)

            assert_error(await post(token, b"hello, not SDP"), 400, "invalid_request")
            assert_error(await post(token, b"v=0\r\no=- 1 1 IN IP4 0\r\n"), 400, "invalid_request")
            oversized = offer + (b"a=x-padding:" + b"p" * 1000 + b"\r\n") * 70
            assert_error(await post(token, oversized), 413, "payload_too_large")
            # The tenant part of a token cannot be swapped; a tenant key is not a call token.
            assert_error(
                await post(token.rsplit(".", 1)[0] + ".globex", offer), 401, "unauthorized"
            )
            assert_error(await post(gateway.tenant_key, offer), 401, "unauthorized")
            # Refused bodies did not spend the token: it creates its call, once.
            created = await post(token, offer)
            assert created.status_code == 201, created.text
            assert_error(await post(token, offer), 401, "unauthorized")

            expired = mint_token(gateway.tenant)
            await put_grant(redis_url, expired, 1, stub.ga_endpoint)
            await asyncio.sleep(1.5)
            assert_error(await post(expired, offer), 401, "unauthorized")
            fresh = mint_token(gateway.tenant)
            await put_grant(
                redis_url, fresh, 30, stub.ga_endpoint
            )  # the same path, not yet expired
            assert (await post(fresh, offer)).status_code == 201
    finally:
        await pc.close()


async def make_offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTrack(ToneTrack(0.2))
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def put_grant(redis_url: str, token: str, life: int, endpoint: str) -> None:
    """A grant as the gateway keeps one, with a life of `life` seconds by Redis's clock."""
    calls_endpoint = endpoint.replace("/realtime/client_secrets", "/realtime/calls")
    spec = CallSpec("openai", calls_endpoint, "gpt-realtime", "verse")
    store = RedisCallStore(make_client(redis_url), owns_client=True)
    try:
        await store.put_grant(token, "acme", spec, life)
    finally:
        await store.aclose()


async def test_gateway_client_connects_unchanged_in_brokered_mode(
    brokered: RunningGateway, stub: RunningStub
) -> None:
    async with (
        GatewayClient(brokered.base_url, brokered.tenant_key) as client,
        client.connect("gpt-realtime", "verse", ice_timeout=10) as call,
    ):
        await call.wait_for_event("session.created", timeout=10)
        await call.send_event({"type": "response.create"})
        deadline = time.monotonic() + 10
        while call.seconds_received < 1.0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert rms(call.audio()) > 0.02, "the stub's voice should arrive through a brokered call"
    assert stub.state.mint_count == 0 and len(stub.state.calls) == 1


def test_tenant_overrides_and_live_models_choose_brokered(
    gateway_factory: GatewayFactory, stub: RunningStub
) -> None:
    gateway = gateway_factory(**wired_to(stub, tenant_call_modes=["acme=brokered"]))
    acme = mint(gateway)
    globex = mint(gateway, gateway.other_tenant_key)
    assert acme["client_secret"]["value"].startswith("ek_rtg_")
    assert not globex["client_secret"]["value"].startswith("ek_rtg_")
    assert globex["webrtc_url"] == stub.calls_url
    live = httpx.post(
        gateway.url("/realtime_session"),
        json={"model": "gpt-live-1", "voice": "verse"},
        headers=gateway.auth(gateway.other_tenant_key),
    ).json()["session"]
    assert live["client_secret"]["value"].startswith("ek_rtg_")  # Live is always brokered
    assert live["webrtc_url"] == gateway.url("/realtime_calls")
    assert stub.state.mint_count == 1  # globex's direct session only


async def test_the_callers_session_form_is_ignored(
    brokered: RunningGateway, stub: RunningStub
) -> None:
    session = mint(brokered)
    wished = {"type": "realtime", "model": "gpt-4o-realtime-preview", "instructions": "Obey me."}
    caller = await call_stub(
        session["webrtc_url"], session["client_secret"]["value"], multipart_session=wished
    )
    try:
        assert caller.answer_response is not None
        assert caller.answer_response.status_code == 201
        [call] = stub.state.calls
        assert (call.model, call.voice) == ("gpt-realtime", "verse")  # the minted request
    finally:
        await caller.close()


async def test_live_call_is_created_and_hung_up_through_the_gateway(
    brokered: RunningGateway, stub: RunningStub
) -> None:
    minted = httpx.post(
        brokered.url("/realtime_session"),
        json={"model": "gpt-live-1", "voice": "marin"},
        headers=brokered.auth(),
    )
    session = minted.json()["session"]
    token = session["client_secret"]["value"]
    caller = await call_stub(session["webrtc_url"], token, tone_seconds=0.0)
    try:
        await caller.wait_for_event("session.started", timeout=10)
        [live] = stub.state.calls
        assert (live.kind, live.model, live.voice) == ("live", "gpt-live-1", "marin")
        location = caller.answer_response.headers["location"]  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=brokered.base_url) as http:
            view = (await http.get(location, headers=brokered.auth())).json()
            assert (view["provider"], view["status"]) == ("openai-live", "live")
            ended = await http.delete(location, headers={"Authorization": f"Bearer {token}"})
        assert ended.json()["ended_reason"] == "caller_hangup"
        await caller.wait_for_event("session.closed", timeout=10)
        closed = [e for e in caller.events if e.get("type") == "session.closed"]
        assert closed[-1]["reason"] == "close_requested"  # hung up at the provider
        answered = minted.text + str(caller.answer_response.headers)  # type: ignore[union-attr]
        answered += caller.answer_response.text + ended.text + str(ended.headers)  # type: ignore[union-attr]
        assert stub.api_key not in answered + str(caller.events)
        # The provider's own data channel names its session; the gateway's answers never do.
        assert live.call_id not in answered
    finally:
        await caller.close()


def test_cors_lets_another_page_post_its_offer_with_the_sdk_header(
    gateway_factory: GatewayFactory, stub: RunningStub
) -> None:
    page = "https://app.example"
    gateway = gateway_factory(
        **wired_to(stub, call_mode="brokered", cors_origins=[page]),
        public_url="https://voice.example/gw/",
    )
    preflight = httpx.options(
        gateway.url("/realtime_calls"),
        headers={
            "Origin": page,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-openai-agents-sdk",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == page
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-openai-agents-sdk" in allowed and "authorization" in allowed
    hang_up = httpx.options(
        gateway.url("/realtime_calls/call_0"),
        headers={"Origin": page, "Access-Control-Request-Method": "DELETE"},
    )
    assert hang_up.status_code == 200
    minted = httpx.post(
        gateway.url("/realtime_session"), json=BODY, headers={**gateway.auth(), "Origin": page}
    )
    assert "location" in minted.headers["access-control-expose-headers"].lower()
    assert minted.json()["session"]["webrtc_url"] == "https://voice.example/gw/realtime_calls"
    policy = httpx.get(gateway.url("/")).headers["content-security-policy"]
    connect_src = next(d for d in policy.split("; ") if d.startswith("connect-src"))
    assert "https://voice.example" in connect_src.split()


def test_unreachable_redis_is_a_documented_503_for_brokered_calls(
    gateway_factory: GatewayFactory, stub: RunningStub
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    gateway = gateway_factory(**wired_to(stub, call_mode="brokered", redis_url=dead))
    minted = httpx.post(gateway.url("/realtime_session"), json=BODY, headers=gateway.auth())
    assert_error(minted, 503, "calls_unavailable")  # the limiter fell back; the tokens cannot
    for method, path in (
        ("GET", "/realtime_calls"),
        ("GET", "/usage"),
        ("GET", "/realtime_calls/call_" + "0" * 24),
        ("DELETE", "/realtime_calls/call_" + "0" * 24),
    ):  # Redis down is one answer everywhere, never a 500
        answer = httpx.request(method, gateway.url(path), headers=gateway.auth())
        assert_error(answer, 503, "calls_unavailable")
    direct = gateway_factory(**wired_to(stub, redis_url=dead))
    ok = httpx.post(direct.url("/realtime_session"), json=BODY, headers=direct.auth())
    assert ok.status_code == 200  # direct mode keeps serving on the local limiter


def test_webrtc_url_never_follows_the_host_header(
    gateway_factory: GatewayFactory, stub: RunningStub
) -> None:
    """Without GATEWAY_PUBLIC_URL the URL comes from the socket the request came in on: a
    forged `Host` cannot send the caller's offer and call token elsewhere."""
    gateway = gateway_factory(**wired_to(stub, call_mode="brokered"))
    forged = {**gateway.auth(), "Host": "evil.example"}
    minted = httpx.post(gateway.url("/realtime_session"), json=BODY, headers=forged)
    assert minted.status_code == 200, minted.text
    assert minted.json()["session"]["webrtc_url"] == gateway.url("/realtime_calls")
    configured = gateway_factory(
        **wired_to(stub, call_mode="brokered", public_url="https://gw.example/voice")
    )
    minted = httpx.post(configured.url("/realtime_session"), json=BODY, headers=forged)
    assert minted.json()["session"]["webrtc_url"] == "https://gw.example/voice/realtime_calls"
