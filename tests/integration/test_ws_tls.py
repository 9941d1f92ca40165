"""`serve` with `GATEWAY_TLS_CERTFILE` / `GATEWAY_TLS_KEYFILE` serves HTTPS and WSS: a test CA
made here with `cryptography`, trusted by the clients only. The official `openai` package
over `wss://` runs a session turn; a client that does not trust the CA is refused at the
handshake; the serving line says https."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
import websockets
from openai import AsyncOpenAI

from tests.fixtures.certs import write_ca_and_server_cert
from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub
from tests.integration.test_stub_realtime_calls import next_of


def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    write_ca_and_server_cert(ca, cert, key)
    return ca, cert, key


async def test_wss_session_with_the_sdk_and_https_routes(stub: RunningStub, tmp_path: Path) -> None:
    ca, cert, key = tls_files(tmp_path)
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_TLS_CERTFILE": str(cert),
        "GATEWAY_TLS_KEYFILE": str(key),
        "RTG_TEST_CA_FILE": str(ca),
    }
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
