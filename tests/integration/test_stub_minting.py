"""The stub's HTTP wire: the official `openai` SDK must work against it unchanged."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.fixtures.stub import RunningStub

OFFER_STUB = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
GA_BODY = {
    "expires_after": {"anchor": "created_at", "seconds": 60},
    "session": {
        "type": "realtime",
        "model": "gpt-realtime",
        "audio": {"output": {"voice": "verse"}},
    },
}


def sdk(stub: RunningStub, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key or stub.api_key, base_url=stub.base_url + "/v1", max_retries=0, timeout=10
    )


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def test_sdk_client_secrets_create(stub: RunningStub) -> None:
    before = int(time.time())
    secret = sdk(stub).realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={
            "type": "realtime",
            "model": "gpt-realtime",
            "audio": {"output": {"voice": "verse"}},
        },
    )
    assert secret.value.startswith("ek_")
    assert before + 119 <= secret.expires_at <= int(time.time()) + 121
    assert secret.session.type == "realtime"
    assert secret.session.id.startswith("sess_")
    assert secret.session.model == "gpt-realtime"
    assert secret.session.audio is not None and secret.session.audio.output is not None
    assert secret.session.audio.output.voice == "verse"
    assert stub.state.mint_count == 1


def test_ga_default_expiry_is_600_seconds(stub: RunningStub) -> None:
    secret = sdk(stub).realtime.client_secrets.create(session={"type": "realtime"})
    assert abs(secret.expires_at - (time.time() + 600)) <= 2


def test_sdk_beta_sessions_create(stub: RunningStub) -> None:
    session = sdk(stub).beta.realtime.sessions.create(model="gpt-realtime", voice="ash")
    assert session.client_secret.value.startswith("ek_")
    assert abs(session.client_secret.expires_at - (time.time() + 60)) <= 2
    assert session.voice == "ash"
    assert session.input_audio_format == "pcm16"
    # `model` and `id` are not declared on this SDK's beta type; they arrive as extra fields.
    extra = session.model_dump()
    assert extra["model"] == "gpt-realtime" and extra["id"].startswith("sess_")


def test_beta_raw_shape(stub: RunningStub) -> None:
    response = httpx.post(
        stub.beta_endpoint,
        json={"model": "gpt-4o-realtime-preview", "voice": "verse"},
        headers={"Authorization": f"Bearer {stub.api_key}"},
        timeout=5,
    )
    body = response.json()
    assert response.status_code == 200
    assert body["id"].startswith("sess_") and body["object"] == "realtime.session"
    assert (body["model"], body["voice"]) == ("gpt-4o-realtime-preview", "verse")
    assert isinstance(body["expires_at"], int)
    assert body["client_secret"]["value"].startswith("ek_")
    assert isinstance(body["client_secret"]["expires_at"], int)


async def make_offer(pcs: list[RTCPeerConnection]) -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pcs.append(pc)
    pc.addTransceiver("audio", direction="sendrecv")
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    return sdp


async def test_sdk_calls_create(stub: RunningStub) -> None:
    secret = sdk(stub).realtime.client_secrets.create(**GA_BODY)  # type: ignore[arg-type]
    client = openai.AsyncOpenAI(
        api_key=secret.value, base_url=stub.base_url + "/v1", max_retries=0, timeout=10
    )
    pcs: list[RTCPeerConnection] = []
    try:
        answer = await client.realtime.calls.create(
            sdp=await make_offer(pcs), session={"type": "realtime", "model": "gpt-realtime"}
        )
        assert answer.text.startswith("v=0")
        assert "a=fingerprint" in answer.text and "m=audio" in answer.text

        raw = await client.realtime.calls.with_raw_response.create(sdp=await make_offer(pcs))
        assert raw.status_code == 201
        assert raw.headers["content-type"].startswith("application/sdp")
        assert raw.headers["location"].startswith("/v1/realtime/calls/rtc_")
        assert [(c.model, c.voice) for c in stub.state.calls] == [("gpt-realtime", "verse")] * 2
    finally:
        for pc in pcs:
            await pc.close()
        await client.close()


@pytest.mark.parametrize("path", ["/v1/realtime/client_secrets", "/v1/realtime/sessions"])
@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_minting_with_wrong_key_is_401(stub: RunningStub, path: str, key: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(stub.base_url + path, json={}, headers=headers, timeout=5)
    error = assert_openai_error(response, 401)
    assert error["type"] == "invalid_request_error"
    assert "sk-wrong" not in response.text
    assert stub.state.mint_count == 0


def test_sdk_raises_authentication_error(stub: RunningStub) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(stub, key="sk-wrong").realtime.client_secrets.create(session={"type": "realtime"})
    assert caught.value.code == "invalid_api_key"


@pytest.mark.parametrize("seconds", [5, 7201, "60"])
def test_expires_after_out_of_range_is_400(stub: RunningStub, seconds: object) -> None:
    response = httpx.post(
        stub.ga_endpoint,
        json={"expires_after": {"anchor": "created_at", "seconds": seconds}},
        headers={"Authorization": f"Bearer {stub.api_key}"},
        timeout=5,
    )
    assert assert_openai_error(response, 400)["param"] == "expires_after.seconds"


def mint(stub: RunningStub, seconds: int = 60) -> str:
    body = {"expires_after": {"anchor": "created_at", "seconds": seconds}}
    response = httpx.post(
        stub.ga_endpoint, json=body, headers={"Authorization": f"Bearer {stub.api_key}"}, timeout=5
    )
    value: str = response.json()["value"]
    return value


def post_offer(stub: RunningStub, path: str, secret: str) -> httpx.Response:
    return httpx.post(
        stub.base_url + path,
        content=OFFER_STUB,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/sdp"},
        timeout=5,
    )


SDP_PATHS = ["/v1/realtime/calls", "/v1/realtime?model=gpt-realtime"]


@pytest.mark.parametrize("path", SDP_PATHS)
def test_unknown_secret_is_401_at_sdp_endpoints(stub: RunningStub, path: str) -> None:
    response = post_offer(stub, path, "ek_" + "0" * 32)
    assert_openai_error(response, 401)
    assert "ek_000" not in response.text
    assert stub.state.calls == []


@pytest.mark.parametrize("path", SDP_PATHS)
def test_expired_secret_is_401_at_sdp_endpoints(stub: RunningStub, path: str) -> None:
    secret = mint(stub, seconds=30)
    stub.state.advance_clock(29)
    assert post_offer(stub, path, secret).status_code == 400  # still valid: the SDP is bad
    stub.state.advance_clock(2)
    error = assert_openai_error(post_offer(stub, path, secret), 401)
    assert "expired" in str(error["message"])


@pytest.mark.parametrize("path", SDP_PATHS)
def test_beta_secret_lives_one_minute(stub: RunningStub, path: str) -> None:
    response = httpx.post(
        stub.beta_endpoint, json={}, headers={"Authorization": f"Bearer {stub.api_key}"}, timeout=5
    )
    secret = response.json()["client_secret"]["value"]
    stub.state.advance_clock(61)
    assert_openai_error(post_offer(stub, path, secret), 401)


def test_fault_status_answers_openai_error(stub: RunningStub) -> None:
    stub.state.set_fault(status=503)
    response = httpx.post(
        stub.ga_endpoint,
        json=GA_BODY,
        headers={"Authorization": f"Bearer {stub.api_key}"},
        timeout=5,
    )
    assert_openai_error(response, 503)
    stub.state.set_fault(status=429)
    with pytest.raises(openai.RateLimitError):
        sdk(stub).beta.realtime.sessions.create(model="gpt-realtime")
    assert stub.state.mint_requests == 2 and stub.state.mint_count == 0
    stub.state.clear_faults()
    assert sdk(stub).realtime.client_secrets.create(**GA_BODY).value.startswith("ek_")  # type: ignore[arg-type]


def test_fault_delay_and_malformed(stub: RunningStub) -> None:
    stub.state.set_fault(delay=0.6)
    started = time.monotonic()
    ok = httpx.post(
        stub.ga_endpoint,
        json=GA_BODY,
        headers={"Authorization": f"Bearer {stub.api_key}"},
        timeout=5,
    )
    assert ok.status_code == 200 and time.monotonic() - started >= 0.6
    stub.state.set_fault(malformed=True)
    for url in (stub.ga_endpoint, stub.beta_endpoint):
        response = httpx.post(
            url, json=GA_BODY, headers={"Authorization": f"Bearer {stub.api_key}"}, timeout=5
        )
        assert response.status_code == 200
        body = response.json()
        assert "value" not in body and "client_secret" not in body
    assert stub.state.mint_count == 1


def test_cors_lets_another_origin_post_an_offer(stub: RunningStub) -> None:
    origin = "http://127.0.0.1:9"
    preflight = httpx.options(
        stub.calls_url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", origin)
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    refused = httpx.post(
        stub.calls_url, content=OFFER_STUB, headers={"Origin": origin, "Authorization": "Bearer x"}
    )
    assert refused.headers["access-control-allow-origin"] in ("*", origin)
    assert "location" in refused.headers["access-control-expose-headers"].lower()


def test_unknown_route_is_openai_shaped_404(stub: RunningStub) -> None:
    assert_openai_error(httpx.get(stub.base_url + "/v1/nothing", timeout=5), 404)
