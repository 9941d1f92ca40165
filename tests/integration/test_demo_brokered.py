"""`realtime-gateway demo --call-mode brokered`: the page gets a gateway call token, and the
offer goes through the gateway to the demo's stub."""

from __future__ import annotations

import asyncio
import time

import httpx

from realtime_gateway.media import ice
from tests.fixtures.servers import free_port
from tests.fixtures.stub import SpawnedCommand, call_stub


async def test_demo_serves_brokered_calls() -> None:
    port, stub_port = free_port(), free_port()
    args = ("demo", "--port", str(port), "--stub-port", str(stub_port), "--call-mode", "brokered")
    with SpawnedCommand.cli(*args) as process:
        process.wait_for_line("UI:", timeout=30)
        key = process.wait_for_line("tenant key:", timeout=5).split()[-1]
        assert "brokered" in process.wait_for_line("call mode:", timeout=5)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            minted = await http.post(
                "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers={"Authorization": f"Bearer {key}"},
            )
        session = minted.json()["session"]
        assert session["client_secret"]["value"].startswith("ek_rtg_")
        assert session["webrtc_url"] == f"http://127.0.0.1:{port}/realtime_calls"
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
