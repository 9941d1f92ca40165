"""`realtime-gateway demo --phone`: a few seconds after start the demo's stub dials the demo
tenant's number; the gateway answers by policy, the call is among the tenant's calls (transport
`sip`, its numbers), and it is cut at its limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from realtime_gateway.demo import DEMO_NUMBER, PHONE_MAX_CALL_SECONDS
from tests.fixtures.servers import free_port
from tests.fixtures.stub import SpawnedCommand


async def test_demo_phone_call_arrives_is_answered_and_cut_at_its_limit(tmp_path: Path) -> None:
    port, stub_port = free_port(), free_port()
    args = ("demo", "--port", str(port), "--stub-port", str(stub_port), "--phone")
    with SpawnedCommand.cli(*args, XDG_STATE_HOME=str(tmp_path / "state")) as process:
        process.wait_for_line("UI:", timeout=30)
        key = process.wait_for_line("tenant key:", timeout=5).split()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        process.wait_for_line("realtime-gateway demo: the stub dials", timeout=30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            calls: list[dict[str, Any]] = []
            async with asyncio.timeout(20):
                while not calls:
                    calls = (await http.get("/realtime_calls", headers=auth)).json()["calls"]
                    await asyncio.sleep(0.2)
            [call] = calls
            assert call["transport"] == "sip" and call["status"] == "live"
            assert call["phone"]["to"] == DEMO_NUMBER
            async with asyncio.timeout(PHONE_MAX_CALL_SECONDS + 15):
                while (
                    state := (await http.get(f"/realtime_calls/{call['id']}", headers=auth)).json()
                )["status"] == "live":
                    await asyncio.sleep(0.5)
            assert state["ended_reason"] == "max_duration"
            assert state["usage"]["audio_seconds"] >= PHONE_MAX_CALL_SECONDS
            # The synthetic caller spoke and the model answered: usage read off the sideband.
            assert state["usage"]["tokens"] > 0
            page = (await http.get("/")).text
            assert 'id="tenant-calls"' in page
    assert "Traceback" not in "\n".join(process.output())
