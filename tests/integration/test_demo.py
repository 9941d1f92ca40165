"""`realtime-gateway demo` as a newcomer runs it: one command, a key printed, a call that speaks."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from realtime_gateway.media import ice
from tests.fixtures.servers import free_port
from tests.fixtures.stub import SpawnedCommand, call_stub


@pytest.fixture
def demo() -> Iterator[tuple[SpawnedCommand, int, int]]:
    port, stub_port = free_port(), free_port()
    with SpawnedCommand.cli("demo", "--port", str(port), "--stub-port", str(stub_port)) as running:
        yield running, port, stub_port


async def test_demo_mints_through_gateway_to_stub_and_stops_on_sigint(
    demo: tuple[SpawnedCommand, int, int],
) -> None:
    process, port, stub_port = demo
    ui_line = process.wait_for_line("UI:", timeout=30)
    assert ui_line.split()[-1] == f"http://127.0.0.1:{port}/"
    key = process.wait_for_line("tenant key:", timeout=5).split()[-1]

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        page = await http.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        response = await http.post(
            "/realtime_session",
            json={"model": "gpt-realtime", "voice": "verse"},
            headers={"Authorization": f"Bearer {key}"},
        )
        refused = await http.post(
            "/realtime_session",
            json={"model": "gpt-realtime", "voice": "verse"},
            headers={"Authorization": "Bearer not-the-demo-key"},
        )
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    assert session["webrtc_url"] == f"http://127.0.0.1:{stub_port}/v1/realtime/calls"
    assert session["client_secret"]["value"].startswith("ek_")
    assert refused.status_code == 401

    # The minted secret opens a real call on the demo's stub, which answers when asked (a
    # silent caller: one who speaks would interrupt the answer, as server VAD does).
    ice.use_loopback_only()
    caller = await call_stub(
        session["webrtc_url"], session["client_secret"]["value"], tone_seconds=0.0
    )
    try:
        await caller.wait_for_event("session.created", timeout=5)
        started = time.monotonic()
        caller.send({"type": "response.create"})
        await asyncio.sleep(1.5)
        assert caller.level_since(started) > 0.02
    finally:
        await caller.close()

    process.process.send_signal(signal.SIGINT)
    assert process.process.wait(timeout=15) == 0
