"""Usage webhooks: each call's end reaches the operator's receiver as a signed `call.ended`
event, at least once. A receiver that fails the first three deliveries gets the fourth, with
the same `webhook-id` every time, and the official `openai` package's `webhooks.unwrap` accepts
the signature. In process (memory outbox) and on a real redis-server (the stream), where a
replica SIGKILLed while it holds a delivery loses none: another replica sends it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from openai import OpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime_gateway.webhook_signing import WebhookSecret
from tests.fixtures.gateway import TENANT_KEY, GatewayFactory, wired_to
from tests.fixtures.processes import gateway_process
from tests.fixtures.servers import serve_in_thread
from tests.fixtures.stub import RunningStub, ToneTrack
from tests.integration.test_control_plane_replicas import make_call

BODY = {"model": "gpt-realtime", "voice": "verse"}


@dataclass
class Receiver:
    fail_first: int
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.seen.append((dict(request.headers), await request.body()))
        return Response(status_code=500 if len(self.seen) <= self.fail_first else 204)


async def wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_failing_receiver_gets_the_event_on_the_fourth_attempt_with_the_same_id(
    backend: str, gateway_factory: GatewayFactory, stub: RunningStub, request: Any
) -> None:
    _, secret = WebhookSecret.generate()
    receiver = Receiver(fail_first=3)
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    redis = {"redis_url": request.getfixturevalue("redis_url")} if backend == "redis" else {}
    with serve_in_thread(app) as served:
        gateway = gateway_factory(
            **wired_to(stub),
            call_mode="brokered",
            usage_webhook_url=served.base_url + "/hook",
            usage_webhook_secret=secret,
            **redis,
        )
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("oai-events")
        pc.addTrack(ToneTrack(0.2))
        await pc.setLocalDescription(await pc.createOffer())
        try:
            async with httpx.AsyncClient(timeout=20) as http:
                minted = await http.post(
                    gateway.url("/realtime_session"), json=BODY, headers=gateway.auth()
                )
                token = minted.json()["session"]["client_secret"]["value"]
                created = await http.post(
                    gateway.url("/realtime_calls"),
                    content=pc.localDescription.sdp,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
                )
                assert created.status_code == 201, created.text
                location = created.headers["location"]
                ended = await http.delete(gateway.url(location), headers=gateway.auth())
                assert ended.json()["ended_reason"] == "caller_hangup"
                await wait_for(lambda: len(receiver.seen) >= 4)
                await asyncio.sleep(0.5)  # nothing more comes: the fourth was taken
        finally:
            await pc.close()
    assert len(receiver.seen) == 4
    ids = {headers["webhook-id"] for headers, _ in receiver.seen}
    assert len(ids) == 1
    headers, body = receiver.seen[-1]
    event = OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(body, headers)
    data = json.loads(body)
    assert event.id == data["id"] == ids.pop()
    assert data["type"] == "call.ended"
    assert data["data"]["call_id"] == location.rsplit("/", 1)[1]
    assert data["data"]["tenant"] == gateway.tenant
    assert data["data"]["ended_reason"] == "caller_hangup"
    # Each attempt is signed afresh; a wrong secret is refused.
    other = WebhookSecret.generate()[1]
    with pytest.raises(Exception, match="signature"):
        OpenAI(api_key="unused", webhook_secret=other).webhooks.unwrap(body, headers)


@dataclass
class StallingReceiver:
    """Holds the first delivery unanswered (its sender will be killed meanwhile), takes the rest."""

    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.seen.append((dict(request.headers), await request.body()))
        if len(self.seen) == 1:
            await asyncio.sleep(60)
        return Response(status_code=204)


async def test_replica_killed_with_a_delivery_pending_loses_none(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    _, secret = WebhookSecret.generate()
    receiver = StallingReceiver()
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    with serve_in_thread(app) as served:
        env = {
            "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
            "OPENAI_API_KEY": stub.api_key,
            "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
            "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
            "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_CALL_MODE": "brokered",
            "GATEWAY_USAGE_WEBHOOK_URL": served.base_url + "/hook",
            "GATEWAY_USAGE_WEBHOOK_SECRET": secret,
        }
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("oai-events")
        pc.addTrack(ToneTrack(0.2))
        await pc.setLocalDescription(await pc.createOffer())
        try:
            with gateway_process(tmp_path, env) as first:
                async with httpx.AsyncClient(timeout=20) as http:
                    location = await make_call(http, first, TENANT_KEY, pc.localDescription.sdp)
                    auth = {"Authorization": f"Bearer {TENANT_KEY}"}
                    await http.delete(first.base_url + location, headers=auth)
                await wait_for(lambda: len(receiver.seen) == 1)
                first.kill()  # SIGKILL, the delivery taken and unanswered
            with gateway_process(tmp_path, env):
                # The other replica claims what the dead one held once it has been idle
                # for the claim time (20 s), and delivers it.
                await wait_for(lambda: len(receiver.seen) >= 2, timeout=60)
        finally:
            await pc.close()
    (first_headers, first_body), (headers, body) = receiver.seen[0], receiver.seen[1]
    assert headers["webhook-id"] == first_headers["webhook-id"] and body == first_body
    event = OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(body, headers)
    assert json.loads(body)["data"]["call_id"] == location.rsplit("/", 1)[1]
    assert event.id == headers["webhook-id"]
