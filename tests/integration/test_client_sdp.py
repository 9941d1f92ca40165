"""The SDP leg: a fresh secret per offer, one retry when the provider says 401 (expired), typed
refusals, and the ICE bound. A real proxy in front of the stub plays the misbehaving provider."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realtime_gateway.client import GatewayClient, IceTimeoutError, SdpRefusedError
from tests.fixtures.servers import serve_in_thread

MODEL = "gpt-realtime"
VOICE = "verse"


@dataclass
class ProxyPlan:
    """How the proxy treats SDP offers: the statuses to answer first, then forward to the stub."""

    refusals: list[int] = field(default_factory=list)
    break_candidates: bool = False
    offers_seen: list[str] = field(default_factory=list)  # the bearer of each offer


@dataclass
class Proxied:
    gateway: Any
    plan: ProxyPlan


def _proxy_app(stub: Any, plan: ProxyPlan) -> Starlette:
    async def mint(request: Request) -> Response:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                stub.ga_endpoint,
                content=await request.body(),
                headers={
                    "Authorization": request.headers.get("authorization", ""),
                    "Content-Type": "application/json",
                },
            )
        return Response(answer.content, answer.status_code, media_type="application/json")

    async def calls(request: Request) -> Response:
        plan.offers_seen.append(request.headers.get("authorization", ""))
        if plan.refusals:
            status = plan.refusals.pop(0)
            body = {"error": {"message": "Ephemeral key has expired.", "type": "x", "code": None}}
            return JSONResponse(body, status)
        async with httpx.AsyncClient(timeout=20) as http:
            answer = await http.post(
                stub.calls_url,
                content=await request.body(),
                headers={
                    "Authorization": request.headers.get("authorization", ""),
                    "Content-Type": request.headers.get("content-type", ""),
                },
            )
        sdp = answer.text
        if plan.break_candidates:
            # Wrong ICE credentials in the answer: every connectivity check fails its integrity
            # check, in both directions, so ICE can never succeed.
            sdp = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:wrongufrag", sdp)
            sdp = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:wrongpasswordwrongpassword", sdp)
        return Response(sdp, answer.status_code, media_type="application/sdp")

    return Starlette(
        routes=[
            Route("/v1/realtime/client_secrets", mint, methods=["POST"]),
            Route("/v1/realtime/calls", calls, methods=["POST"]),
        ]
    )


@pytest.fixture
def proxied(stub: Any, gateway_factory: Any) -> Iterator[Proxied]:
    plan = ProxyPlan()
    with serve_in_thread(_proxy_app(stub, plan)) as proxy:
        endpoint = f"{proxy.base_url}/v1/realtime/client_secrets"
        gateway = gateway_factory(
            openai_api_key=stub.api_key,
            provider_endpoint=endpoint,
            allowed_endpoints=[endpoint],
        )
        yield Proxied(gateway, plan)


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
    import time

    proxied.plan.break_candidates = True
    gateway = proxied.gateway
    started = time.monotonic()
    async with GatewayClient(gateway.base_url, gateway.tenant_key) as client:
        with pytest.raises(IceTimeoutError) as caught:
            async with client.connect(MODEL, VOICE, ice_timeout=1.5):
                pass
    assert caught.value.error_code == "ice_timeout"
    assert time.monotonic() - started < 8
