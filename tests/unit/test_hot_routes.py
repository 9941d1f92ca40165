"""The hot routes (`routes/hot.py`): they answer before FastAPI's middleware stack, keep the
header limit and CORS it gave them, and `/openapi.json` still describes both with their error
bodies."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime_gateway.gateway.app import create_app
from realtime_gateway.gateway.settings import Settings
from tests.fixtures.gateway import TENANT_KEY, gateway_settings

ERROR_BODY_REF = "#/components/schemas/ErrorBody"
AUTH = {"Authorization": f"Bearer {TENANT_KEY}"}


class SeenByFastAPIStack:
    """A middleware in FastAPI's stack that notes every HTTP request reaching it."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def test_the_hot_routes_are_answered_before_fastapis_stack_and_the_rest_go_through_it() -> None:
    seen: list[str] = []
    app = create_app(gateway_settings())
    app.add_middleware(SeenByFastAPIStack, seen=seen)
    with TestClient(app) as client:
        session = client.post("/realtime_session", json={"model": "nope"}, headers=AUTH)
        call = client.post("/realtime_calls", content=b"v=0", headers=AUTH)
        listed = client.get("/realtime_calls", headers=AUTH)
        slashed = client.post("/realtime_session/", json={}, headers=AUTH)
    # The hot routes answered, with the documented bodies, and FastAPI's stack saw none of them.
    assert (session.status_code, session.json()["error_code"]) == (400, "invalid_request")
    assert (call.status_code, call.json()["error_code"]) == (401, "unauthorized")
    assert listed.status_code == 200
    assert slashed.status_code == 404  # not a hot path: the router's 404, no slash redirect
    assert seen == ["GET /realtime_calls", "POST /realtime_session/"]


def test_the_hot_routes_keep_the_header_limit_and_the_apps_cors() -> None:
    origin = "https://console.example"
    app = create_app(gateway_settings(cors_origins=[origin], max_header_bytes=2048))
    with TestClient(app) as client:
        hot = client.post("/realtime_session", json={}, headers={"Origin": origin})
        routed = client.get("/realtime_calls", headers={"Origin": origin})
        stranger = client.post(
            "/realtime_session", json={}, headers={"Origin": "https://x.example"}
        )
        flooded = client.post("/realtime_session", json={}, headers={**AUTH, "X-Pad": "p" * 4096})
    assert hot.status_code == routed.status_code == 401
    cors = ["access-control-allow-origin", "access-control-expose-headers", "vary"]
    assert [hot.headers.get(name) for name in cors] == [routed.headers.get(name) for name in cors]
    assert hot.headers["access-control-allow-origin"] == origin
    assert "location" in hot.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers
    assert (flooded.status_code, flooded.json()["error_code"]) == (431, "headers_too_large")


def error_refs(operation: dict[str, Any], statuses: list[str]) -> dict[str, str]:
    responses = operation["responses"]
    return {
        status: responses[status]["content"]["application/json"]["schema"]["$ref"]
        for status in statuses
    }


def test_openapi_still_describes_the_session_route_and_its_errors() -> None:
    spec = create_app(Settings()).openapi()
    operation = spec["paths"]["/realtime_session"]["post"]
    statuses = ["400", "401", "408", "413", "429", "500", "503"]
    assert error_refs(operation, statuses) == dict.fromkeys(statuses, ERROR_BODY_REF)
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"model", "voice", "endpoint"} <= set(body["properties"])
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) == {
        "error_code",
        "message",
    }


def test_openapi_still_describes_the_calls_route_and_its_errors() -> None:
    spec = create_app(Settings()).openapi()
    post = spec["paths"]["/realtime_calls"]["post"]
    assert "application/sdp" in post["responses"]["201"]["content"]
    assert set(post["requestBody"]["content"]) == {"application/sdp", "multipart/form-data"}
    statuses = ["400", "401", "408", "413", "500"]
    assert error_refs(post, statuses) == dict.fromkeys(statuses, ERROR_BODY_REF)
    assert "get" in spec["paths"]["/realtime_calls"]


def test_errors_on_the_openai_surface_have_openais_shape() -> None:
    """An OpenAI SDK reads a refusal on `/v1` as it reads OpenAI's own: `error.code` is ours."""
    from realtime_gateway.gateway.errors import Unauthorized, error_body

    assert Unauthorized("nope").body("/v1/realtime/calls") == {
        "error": {
            "message": "nope",
            "type": "authentication_error",
            "code": "unauthorized",
            "param": None,
        }
    }
    assert Unauthorized("nope").body("/realtime_calls") == {
        "error_code": "unauthorized",
        "message": "nope",
    }
    assert error_body("provider_error", "x", 500, "/v1")["error"]["type"] == "server_error"
