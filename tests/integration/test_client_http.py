"""The client's HTTP half against a real server on 127.0.0.1 that answers the documented bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from realtime_gateway.client import (
    GatewayClient,
    GatewayUnreachableError,
    InvalidRequestError,
    ProviderError,
    RateLimitedError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from tests.fixtures.servers import ServedApp, free_port, serve_in_thread

TENANT_KEY = "tenant-key-abcdefghijklmnop"
SECRET = "ek_http_test_secret_value"


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return JSONResponse({"error_code": code, "message": message}, status, headers=headers)


async def realtime_session(request: Request) -> Response:
    request.app.state.seen.append(
        {"authorization": request.headers.get("authorization"), "body": await request.json()}
    )
    if request.headers.get("authorization") != f"Bearer {TENANT_KEY}":
        return _error(401, "unauthorized", "missing or invalid credential")
    model = (await request.json()).get("model")
    if model == "bad model":
        return _error(400, "invalid_request", "model: only [A-Za-z0-9._-] allowed")
    if model == "busy":
        return _error(429, "rate_limited", "rate limit exceeded", **{"Retry-After": "37"})
    if model == "down":
        return _error(500, "provider_error", "OpenAI returned 503 Service Unavailable")
    if model == "html":
        return PlainTextResponse("<html>proxy error</html>", 502)
    return JSONResponse(
        {
            "session": {
                "id": "sess_1",
                "model": model,
                "voice": "verse",
                "expires_at": "2030-01-01T00:00:00Z",
                "client_secret": {"value": SECRET, "expires_at": "2030-01-01T00:00:00Z"},
                "webrtc_url": "http://127.0.0.1:9/v1/realtime/calls",
            }
        }
    )


@pytest.fixture
def fake_gateway() -> Iterator[ServedApp]:
    app = Starlette(routes=[Route("/realtime_session", realtime_session, methods=["POST"])])
    app.state.seen = []
    with serve_in_thread(app) as served:
        yield served


def _seen(served: ServedApp) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = served.server.config.app.state.seen
    return seen


async def test_create_session_sends_key_and_body(fake_gateway: ServedApp) -> None:
    async with GatewayClient(fake_gateway.base_url, TENANT_KEY) as client:
        session = await client.create_session("gpt-realtime", "verse", "https://x.test/v1/e")
    assert session.model == "gpt-realtime" and session.client_secret.value == SECRET
    assert _seen(fake_gateway) == [
        {
            "authorization": f"Bearer {TENANT_KEY}",
            "body": {"model": "gpt-realtime", "voice": "verse", "endpoint": "https://x.test/v1/e"},
        }
    ]


async def test_wrong_key_raises_unauthorized(fake_gateway: ServedApp) -> None:
    async with GatewayClient(fake_gateway.base_url, "wrong-key") as client:
        with pytest.raises(UnauthorizedError) as caught:
            await client.create_session("gpt-realtime", "verse")
    assert caught.value.status == 401 and caught.value.error_code == "unauthorized"
    assert "wrong-key" not in str(caught.value)


async def test_bad_model_raises_invalid_request(fake_gateway: ServedApp) -> None:
    async with GatewayClient(fake_gateway.base_url, TENANT_KEY) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.create_session("bad model", "verse")
    assert caught.value.status == 400 and "model" in caught.value.message


async def test_rate_limited_carries_retry_after(fake_gateway: ServedApp) -> None:
    async with GatewayClient(fake_gateway.base_url, TENANT_KEY) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.create_session("busy", "verse")
    assert caught.value.status == 429 and caught.value.retry_after == 37


async def test_provider_failure_raises_provider_error(fake_gateway: ServedApp) -> None:
    async with GatewayClient(fake_gateway.base_url, TENANT_KEY) as client:
        with pytest.raises(ProviderError) as caught:
            await client.create_session("down", "verse")
    assert caught.value.status == 500
    assert caught.value.message == "OpenAI returned 503 Service Unavailable"


async def test_non_json_answer_is_unexpected(fake_gateway: ServedApp) -> None:
    async with GatewayClient(fake_gateway.base_url, TENANT_KEY) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.create_session("html", "verse")
    assert caught.value.status == 502


async def test_shared_http_client_is_used_and_left_open(fake_gateway: ServedApp) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        client = GatewayClient(fake_gateway.base_url, TENANT_KEY, http=http)
        await client.create_session("gpt-realtime", "verse")
        await client.aclose()
        assert not http.is_closed
        answer = await http.post(f"{fake_gateway.base_url}/realtime_session", json={})
        assert answer.status_code == 401


async def test_nothing_listening_is_gateway_unreachable() -> None:
    async with GatewayClient(f"http://127.0.0.1:{free_port()}", TENANT_KEY, timeout=2) as client:
        with pytest.raises(GatewayUnreachableError) as caught:
            await client.create_session("gpt-realtime", "verse")
    assert caught.value.status is None and TENANT_KEY not in str(caught.value)
