"""Errors keep their cause: the exception chain (`__cause__`) and a message that says why, with
the address tried, and never a credential."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from realtime_gateway.client import GatewayClient, GatewayUnreachableError, SdpRefusedError
from realtime_gateway.client.models import ClientSecret, Session
from realtime_gateway.gateway.providers.http1 import Http1Transport
from realtime_gateway.gateway.providers.transport import UpstreamUnreachable
from tests.fixtures.servers import free_port

KEY = "rtg_cause_test_key_0123456789"
SECRET = "ek_cause_test_secret_0123456789"
CLI = str(Path(sys.executable).with_name("realtime-gateway"))


async def test_transport_failure_says_why_and_keeps_the_cause() -> None:
    port = free_port()
    transport = Http1Transport()
    try:
        with pytest.raises(UpstreamUnreachable) as caught:
            await transport.post_json(
                f"http://127.0.0.1:{port}/v1/realtime/client_secrets",
                headers={"Authorization": f"Bearer {KEY}"},
                body=b"{}",
                timeout=5,
            )
    finally:
        await transport.aclose()
    message = str(caught.value)
    assert message.startswith(f"cannot connect to 127.0.0.1:{port}: ConnectionRefusedError: ")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert KEY not in message


async def test_unreachable_gateway_names_the_url_and_keeps_the_cause() -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    async with GatewayClient(base_url, KEY, timeout=2) as client:
        with pytest.raises(GatewayUnreachableError) as caught:
            await client.create_session("gpt-realtime", "verse")
    assert f"could not reach the gateway at {base_url}: ConnectError: " in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert KEY not in str(caught.value)


async def test_offer_that_cannot_be_posted_says_why_and_keeps_the_cause() -> None:
    origin = f"http://127.0.0.1:{free_port()}"
    session = Session(
        id="sess_1",
        model="gpt-realtime",
        voice="verse",
        expires_at=datetime.now(UTC),
        client_secret=ClientSecret(SECRET, datetime.now(UTC)),
        webrtc_url=f"{origin}/v1/realtime/calls",
    )
    async with GatewayClient(origin, KEY, timeout=2) as client:
        with pytest.raises(SdpRefusedError) as caught:
            await client.post_offer(session, "v=0\r\n")
    assert f"could not post the offer to {origin}: ConnectError: " in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert SECRET not in str(caught.value)


def test_connect_says_which_gateway_it_could_not_reach(tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"
    command = [
        CLI, "connect", "--gateway", base_url, "--api-key", KEY, "--model", "gpt-realtime",
        "--voice", "verse", "--out", str(tmp_path / "reply.wav"), "--seconds", "1",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 9, result.stderr
    [line] = result.stderr.splitlines()
    assert f"gateway_unreachable: could not reach the gateway at {base_url}: " in line
    assert "ConnectError" in line and KEY not in line


def test_connect_says_why_the_input_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    command = [
        CLI, "connect", "--gateway", "http://127.0.0.1:9", "--api-key", KEY,
        "--model", "gpt-realtime", "--voice", "verse", "--input", str(missing),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"input_error: cannot read {missing}: FileNotFoundError: " in result.stderr
    assert "No such file or directory" in result.stderr
