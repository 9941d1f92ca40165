"""`realtime-gateway stub` from the command line: a generated key, a working API, a clean stop."""

from __future__ import annotations

import signal

import openai
import pytest

from tests.fixtures.servers import free_port
from tests.fixtures.stub import SpawnedCommand


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_stub_command_prints_generated_key_serves_and_stops(stop_with: signal.Signals) -> None:
    port = free_port()
    with SpawnedCommand.cli("stub", "--port", str(port), "--loopback-ice") as stub:
        key = stub.wait_for_line("stub provider key:", timeout=30).split()[-1]
        stub.wait_for_line("stub listening on", timeout=10)
        client = openai.OpenAI(
            api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=10
        )
        secret = client.realtime.client_secrets.create(session={"type": "realtime"})
        assert secret.value.startswith("ek_")
        stub.process.send_signal(stop_with)
        assert stub.process.wait(timeout=15) == 0


def test_stub_command_uses_openai_api_key_and_does_not_print_it() -> None:
    port = free_port()
    key = "sk-from-env-0123456789"
    with SpawnedCommand.cli("stub", "--port", str(port), OPENAI_API_KEY=key) as stub:
        stub.wait_for_line("stub listening on", timeout=30)
        client = openai.OpenAI(
            api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=10
        )
        assert client.beta.realtime.sessions.create(model="gpt-realtime").client_secret.value
        stub.process.send_signal(signal.SIGINT)
        assert stub.process.wait(timeout=15) == 0
        assert not any(key in line for line in stub.seen)
        assert stub.process.stdout is not None
        assert key not in stub.process.stdout.read()
