"""`realtime-gateway connect` through a brokered gateway: it ends its call at the gateway and
its summary names the `ended_reason` and the usage the gateway counted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.gateway import GatewayFactory, wired_to
from tests.integration.test_connect_cli import run_connect


def test_connect_summary_names_the_end_and_the_usage(
    gateway_factory: GatewayFactory, stub: Any, tmp_path: Path
) -> None:
    gateway = gateway_factory(**wired_to(stub, call_mode="brokered"))
    result = run_connect(gateway, tmp_path / "reply.wav")
    assert result.returncode == 0, result.stderr
    [summary] = result.stderr.strip().splitlines()
    match = re.search(r", ended: caller_hangup, usage (\d+\.\d) s audio, (\d+) tokens$", summary)
    assert match, summary
    assert float(match.group(1)) >= 1.0  # the call ran for --seconds 1.5 at least
    [call] = httpx.get(gateway.url("/usage"), headers=gateway.auth()).json()["days"][:1]
    assert call["calls"] == 1
    assert stub.state.calls[0].ended  # hung up at the provider, not left to its deadline
    assert "ek_rtg_" not in result.stdout + result.stderr
