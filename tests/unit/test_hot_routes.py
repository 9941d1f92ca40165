"""The hot routes (`routes/hot.py`): they answer ahead of FastAPI, and `/openapi.json` still
describes both of them with their error bodies."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match, Route

from realtime_gateway.gateway.app import create_app
from realtime_gateway.gateway.settings import Settings

ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def first_full_match(app: Any, method: str, path: str) -> Any:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    raise AssertionError(f"no route serves {method} {path}")


@pytest.mark.parametrize("path", ["/realtime_session", "/realtime_calls"])
def test_the_hot_routes_answer_without_fastapi_dependency_resolution(path: str) -> None:
    app = create_app(Settings())
    # A plain Starlette route, not an APIRoute nor a FastAPI router holding one.
    assert type(first_full_match(app, "POST", path)) is Route
    # The other methods on the same path are still FastAPI's.
    assert type(first_full_match(app, "GET", "/realtime_calls")) is not Route


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
