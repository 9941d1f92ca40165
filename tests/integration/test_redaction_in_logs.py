"""A provider that echoes the key in its error body, without a recognisable prefix or split by
a space, does not get it into the gateway's logs, on a real `serve`."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from tests.fixtures.processes import gateway_process
from tests.fixtures.provider import error, scripted_provider

PROVIDER_KEY = "Zq7xWm3pLk9vRt2yNb5cHs8d"  # 24 characters, no sk- prefix
TENANT_KEY = "rtg_redaction_acme_3c5e7a9b1d"


def test_provider_key_echoed_without_prefix_or_split_is_not_logged(tmp_path: Path) -> None:
    with scripted_provider() as provider:
        with gateway_process(
            tmp_path,
            OPENAI_API_KEY=PROVIDER_KEY,
            GATEWAY_API_KEYS=f"acme:{TENANT_KEY}",
            GATEWAY_PROVIDER_ENDPOINT=provider.ga_endpoint,
            GATEWAY_ALLOWED_ENDPOINTS=provider.ga_endpoint,
            GATEWAY_RATE_LIMIT="100/minute",
        ) as gateway:
            for echoed in (PROVIDER_KEY, f"{PROVIDER_KEY[:5]} {PROVIDER_KEY[5:]}"):
                provider.api_key = echoed  # what the scripted 401 body echoes
                provider.script(error(401))
                answer = httpx.post(
                    gateway.base_url + "/realtime_session",
                    json={"model": "gpt-realtime", "voice": "verse"},
                    headers={"Authorization": f"Bearer {TENANT_KEY}"},
                    timeout=10,
                )
                assert answer.status_code == 500
        written = gateway.output()
    assert written.count("provider refused") == 2, written  # the grep is not of nothing
    assert "Incorrect API key provided" in written
    for start in range(len(PROVIDER_KEY) - 7):
        assert PROVIDER_KEY[start : start + 8] not in written, written


def test_the_servers_own_lines_go_through_the_redacting_formatter(tmp_path: Path) -> None:
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY=PROVIDER_KEY,
        GATEWAY_API_KEYS=f"acme:{TENANT_KEY}",
        GATEWAY_PROVIDER_ENDPOINT="http://127.0.0.1:9/v1/realtime/client_secrets",
        GATEWAY_ALLOWED_ENDPOINTS="http://127.0.0.1:9/v1/realtime/client_secrets",
    ) as gateway:
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
            sock.sendall(f"NOT HTTP {PROVIDER_KEY}\r\n\r\n".encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
        deadline = time.monotonic() + 10
        while "Invalid HTTP request" not in gateway.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        written = gateway.output()
    lines = [json.loads(line) for line in written.splitlines() if "Invalid HTTP" in line]
    assert lines and lines[0]["logger"] == "uvicorn.error", written
    assert PROVIDER_KEY[:8] not in written
