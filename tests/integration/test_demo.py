"""`realtime-gateway demo` as a newcomer runs it: one command, a key printed, a call that speaks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from realtime_gateway.media import ice
from tests.fixtures.servers import free_port
from tests.fixtures.stub import SpawnedCommand, call_stub


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[SpawnedCommand, int, int]]:
    port, stub_port = free_port(), free_port()
    with SpawnedCommand.cli(
        "demo", "--port", str(port), "--stub-port", str(stub_port), XDG_STATE_HOME=str(tmp_path)
    ) as running:
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
    assert process.wait_for_exit(timeout=15) == 0


def demo_run_key(state_home: Path, *options: str) -> str:
    """Starts the demo, reads the tenant key it prints, stops it with Ctrl-C."""
    port, stub_port = free_port(), free_port()
    with SpawnedCommand.cli(
        "demo",
        "--port",
        str(port),
        "--stub-port",
        str(stub_port),
        *options,
        XDG_STATE_HOME=str(state_home),
    ) as process:
        key = process.wait_for_line("tenant key:", timeout=30).split()[-1]
        assert process.wait_for_line("rate:", timeout=5).split()[1] == "30/minute"
        process.process.send_signal(signal.SIGINT)
        assert process.wait_for_exit(timeout=15) == 0
    return key


def test_demo_key_is_the_same_next_run_until_new_key(tmp_path: Path) -> None:
    first = demo_run_key(tmp_path)
    assert demo_run_key(tmp_path) == first  # the UI's remembered key still works
    rotated = demo_run_key(tmp_path, "--new-key")
    assert rotated != first
    assert demo_run_key(tmp_path) == rotated
    stored = tmp_path / "realtime-gateway" / "demo-key"
    assert stored.read_text().strip() == rotated
    assert stored.stat().st_mode & 0o077 == 0


async def test_demo_tenant_can_mint_more_than_the_production_default(
    demo: tuple[SpawnedCommand, int, int],
) -> None:
    process, port, _ = demo
    key = process.wait_for_line("tenant key:", timeout=30).split()[-1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        answers = [
            await http.post(
                "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers={"Authorization": f"Bearer {key}"},
            )
            for _ in range(6)
        ]
    assert [answer.status_code for answer in answers] == [200] * 6
    assert answers[-1].headers["RateLimit-Policy"] == '"default";q=30;w=60'


def test_demo_says_in_one_line_when_it_cannot_keep_its_key(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "state-home"
    not_a_directory.write_text("a file where the state directory should be")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "realtime-gateway"), "demo", "--port", "0"],
        env={**os.environ, "XDG_STATE_HOME": str(not_a_directory)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("realtime-gateway demo: cannot keep the demo key in ")
