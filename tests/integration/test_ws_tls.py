"""`serve` with `GATEWAY_TLS_CERTFILE` / `GATEWAY_TLS_KEYFILE` serves HTTPS and WSS: a test CA
made here with `cryptography`, trusted by the clients only. The official `openai` package
(Python) over `wss://` runs a session turn, and so does openai for node's `OpenAIRealtimeWS`
(which always dials `wss://`) trusting the CA through NODE_EXTRA_CA_CERTS; a client that does
not trust the CA is refused at the handshake; the serving line says https."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
import websockets
from openai import AsyncOpenAI

from tests.fixtures.certs import write_ca_and_server_cert
from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.node_openai import node_modules
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub
from tests.integration.test_stub_realtime_calls import next_of

NODE_SCRIPT = Path(__file__).resolve().parents[1] / "node" / "realtime_ws.cjs"


def tls_gateway_env(stub: RunningStub, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A test CA, and the settings of a gateway serving HTTPS with a certificate it signed."""
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    write_ca_and_server_cert(ca, cert, key)
    return ca, {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_TLS_CERTFILE": str(cert),
        "GATEWAY_TLS_KEYFILE": str(key),
        "RTG_TEST_CA_FILE": str(ca),
    }


async def test_wss_session_with_the_sdk_and_https_routes(stub: RunningStub, tmp_path: Path) -> None:
    ca, env = tls_gateway_env(stub, tmp_path)
    with gateway_process(tmp_path, env) as gateway:
        assert gateway.base_url.startswith("https://")
        assert "serving on https://127.0.0.1:" in gateway.output()
        trust = ssl.create_default_context(cafile=str(ca))
        http = httpx.AsyncClient(verify=trust, timeout=10)
        client = AsyncOpenAI(
            api_key=TENANT_KEY, base_url=gateway.base_url + "/v1", max_retries=0, http_client=http
        )
        async with client.realtime.connect(
            model="gpt-realtime", websocket_connection_options={"ssl": trust}
        ) as connection:
            await next_of(connection, "session.created")
            await connection.response.create()
            done = await next_of(connection, "response.done", timeout=20)
            assert done.response.status == "completed"
        usage = await http.get(
            gateway.base_url + "/usage", headers={"Authorization": f"Bearer {TENANT_KEY}"}
        )
        assert usage.status_code == 200
        await http.aclose()
        url = f"wss://127.0.0.1:{gateway.port}/v1/realtime?model=gpt-realtime"
        with pytest.raises(ssl.SSLCertVerificationError):
            async with asyncio.timeout(10):
                await websockets.connect(
                    url, additional_headers={"Authorization": f"Bearer {TENANT_KEY}"}
                )


async def test_node_openai_realtime_ws_over_wss(stub: RunningStub, tmp_path: Path) -> None:
    modules = node_modules()
    ca, env = tls_gateway_env(stub, tmp_path)
    with gateway_process(tmp_path, env) as gateway:
        ran = await asyncio.to_thread(
            subprocess.run,
            ["node", str(NODE_SCRIPT)],
            env={
                "PATH": os.environ.get("PATH", ""),
                "NODE_PATH": str(modules),
                "NODE_EXTRA_CA_CERTS": str(ca),
                "GATEWAY_BASE_URL": gateway.base_url,
                "TENANT_KEY": TENANT_KEY,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        result = json.loads(ran.stdout.strip().splitlines()[-1])
        assert result["ok"] and result["url"].startswith("wss://127.0.0.1:")
        assert result["seen"][0] == "session.created"
        assert result["usage"]["output_tokens"] > 0
        trust = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(verify=trust, timeout=10) as http:
            async with asyncio.timeout(20):
                while True:
                    usage = await http.get(
                        gateway.base_url + "/usage",
                        headers={"Authorization": f"Bearer {TENANT_KEY}"},
                    )
                    today = usage.json()["today"]
                    if today["calls"] == 1:
                        break
                    await asyncio.sleep(0.05)
        assert today["by_transport"]["websocket"]["calls"] == 1
        assert today["tokens"]["output"] == result["usage"]["output_tokens"]
