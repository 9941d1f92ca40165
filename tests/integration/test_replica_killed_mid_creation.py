"""A replica SIGKILLed while the provider is creating a call it admitted: the slot it took comes
back (another replica's reaper releases the admission once its attach window has passed) and
nothing is billed. The caller never got the answer SDP, so the provider's call carries no media
and the provider drops it; nothing in the gateway says the call is live.

Two real `serve` processes on one real redis-server; the provider is a small server on
127.0.0.1 that holds call creations until the test lets them through."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.servers import serve_in_thread

ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
PROVIDER_TIMEOUT = 2  # the attach window is this plus 10 s


class HeldCalls:
    """Creates calls only once `gate` is set; counts creations and hang-ups."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.arrived = threading.Event()
        self.created = 0
        self.hung_up: list[str] = []

    async def create(self, request: Request) -> Response:
        await request.body()
        self.arrived.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        self.created += 1
        headers = {"Location": f"/v1/realtime/calls/rtc_held_{self.created}"}
        return Response(SDP, 201, headers=headers, media_type="application/sdp")

    async def hang_up(self, request: Request) -> Response:
        self.hung_up.append(request.path_params["call"])
        return Response(status_code=200)


@pytest.fixture
def held_calls() -> Iterator[tuple[HeldCalls, str]]:
    provider = HeldCalls()
    app = Starlette(
        routes=[
            Route("/v1/realtime/calls", provider.create, methods=["POST"]),
            Route("/v1/realtime/calls/{call}/hangup", provider.hang_up, methods=["POST"]),
        ]
    )
    with serve_in_thread(app) as served:
        yield provider, served.base_url + "/v1/realtime/client_secrets"
        provider.gate.set()


async def test_a_replica_killed_while_the_provider_creates_its_call_leaves_no_ghost(
    held_calls: tuple[HeldCalls, str], redis_url: str, tmp_path: Path
) -> None:
    provider, endpoint = held_calls
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": "sk-test-provider-key-held-000000",
        "GATEWAY_PROVIDER_ENDPOINT": endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_MAX_CONCURRENT_CALLS": "1",
        "GATEWAY_PROVIDER_TIMEOUT": str(PROVIDER_TIMEOUT),
    }
    with contextlib.ExitStack() as stack:
        doomed = stack.enter_context(gateway_process(tmp_path, env))
        survivor = stack.enter_context(gateway_process(tmp_path, env))
        async with httpx.AsyncClient(timeout=30) as http:
            body = {"model": "gpt-realtime", "voice": "verse"}
            minted = await http.post(doomed.base_url + "/realtime_session", json=body, headers=ACME)
            token = minted.json()["session"]["client_secret"]["value"]
            offer = asyncio.ensure_future(
                http.post(
                    doomed.base_url + "/realtime_calls",
                    content=SDP,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
                )
            )
            await asyncio.to_thread(provider.arrived.wait, 10)
            doomed.kill()  # SIGKILL: between the provider's call and its record
            provider.gate.set()  # the provider makes the call; its answer has nowhere to go
            with pytest.raises(httpx.TransportError):
                await offer
            usage = (await http.get(survivor.base_url + "/usage", headers=ACME)).json()
            assert usage["live_calls"] == 1  # the admission holds the tenant's one slot ...
            async with asyncio.timeout(40):  # ... until the attach window has passed
                while usage["live_calls"]:
                    await asyncio.sleep(0.25)
                    usage = (await http.get(survivor.base_url + "/usage", headers=ACME)).json()
            listed = (await http.get(survivor.base_url + "/realtime_calls", headers=ACME)).json()
            # The slot is free for the next call, and nothing was billed.
            token = (
                await http.post(survivor.base_url + "/realtime_session", json=body, headers=ACME)
            ).json()["session"]["client_secret"]["value"]
            created = await http.post(
                survivor.base_url + "/realtime_calls",
                content=SDP,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
            )
    assert doomed.process is not None and doomed.process.returncode == -signal.SIGKILL
    assert listed == {"calls": []}
    assert usage["today"]["calls"] == 0 and usage["today"]["audio_seconds"] == 0
    assert created.status_code == 201, created.text
