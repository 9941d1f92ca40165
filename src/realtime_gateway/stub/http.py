"""What every stub route shares: OpenAI's error responses and the bearer credential checks."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from realtime_gateway.stub.faults import openai_error
from realtime_gateway.stub.state import StubState

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
BAD_KEY = "Incorrect API key provided."


def error_response(status: int, message: str | None = None, **kwargs: Any) -> JSONResponse:
    return JSONResponse(openai_error(status, message, **kwargs), status_code=status)


def bearer(connection: HTTPConnection) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def is_provider_key(state: StubState, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), state.config.api_key.encode())


def provider_key_refusal(connection: HTTPConnection, state: StubState) -> JSONResponse | None:
    """None for the provider key; else the 401 OpenAI gives (a minted secret is not enough)."""
    token = bearer(connection)
    if token is None:
        return error_response(401, NO_KEY, code="missing_api_key")
    if not is_provider_key(state, token):
        return error_response(401, BAD_KEY, code="invalid_api_key")
    return None
