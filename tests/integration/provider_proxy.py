"""A real provider in front of the stub that misbehaves on request: refuses SDP offers with
given statuses, or breaks ICE in its answers. Used by the client and `connect` tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.servers import serve_in_thread


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


def proxy_app(stub: Any, plan: ProxyPlan) -> Starlette:
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


@contextmanager
def proxied_gateway(stub: Any, gateway_factory: Any) -> Iterator[Proxied]:
    """A gateway whose provider endpoint is a proxy to `stub` following a `ProxyPlan`."""
    plan = ProxyPlan()
    with serve_in_thread(proxy_app(stub, plan)) as proxy:
        endpoint = f"{proxy.base_url}/v1/realtime/client_secrets"
        gateway = gateway_factory(
            openai_api_key=stub.api_key,
            provider_endpoint=endpoint,
            allowed_endpoints=[endpoint],
        )
        yield Proxied(gateway, plan)
