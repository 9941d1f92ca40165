"""The WebSocket client's own parsing: the session URL it dials, and the typed error a refused
upgrade becomes (the gateway's `/v1` shape, its seed shape, and the provider's own codes)."""

from __future__ import annotations

import json

import pytest

from realtime_gateway.client import (
    InvalidRequestError,
    LimiterUnavailableError,
    ProviderError,
    RateLimitedError,
    TooManyCallsError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from realtime_gateway.client.websocket import realtime_url, refusal_error


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/realtime?model=gpt-realtime"),
        ("https://gw.example/", "wss://gw.example/v1/realtime?model=gpt-realtime"),
        ("https://gw.example/rtg", "wss://gw.example/rtg/v1/realtime?model=gpt-realtime"),
    ],
)
def test_the_session_url_is_the_gateways_v1_realtime(base: str, expected: str) -> None:
    assert realtime_url(base, "gpt-realtime") == expected


def test_the_model_is_quoted_and_other_schemes_are_refused() -> None:
    assert realtime_url("http://h", "a b&c").endswith("?model=a+b%26c")
    with pytest.raises(InvalidRequestError):
        realtime_url("ftp://h", "m")
    with pytest.raises(InvalidRequestError):
        realtime_url("127.0.0.1:8080", "m")


def openai_body(code: str | None, message: str = "refused") -> bytes:
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "code": code,
                "param": None,
            }
        }
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", UnauthorizedError),
        (400, "invalid_request", InvalidRequestError),
        (500, "provider_error", ProviderError),
        (503, "limiter_unavailable", LimiterUnavailableError),
        # The stub (or OpenAI) names its own codes: read by the status.
        (401, "invalid_api_key", UnauthorizedError),
        (401, "missing_api_key", UnauthorizedError),
        (400, "missing_required_parameter", InvalidRequestError),
    ],
)
def test_a_refusal_is_the_error_of_its_code(status: int, code: str, cls: type) -> None:
    error = refusal_error(status, openai_body(code, "no."), None)
    assert type(error) is cls
    assert (error.status, error.message) == (status, "no.")


def test_the_seed_error_shape_is_read_too() -> None:
    body = json.dumps({"error_code": "unauthorized", "message": "bad key"}).encode()
    error = refusal_error(401, body, None)
    assert isinstance(error, UnauthorizedError) and error.message == "bad key"


def test_rate_limited_carries_retry_after() -> None:
    error = refusal_error(429, openai_body("rate_limited"), "17")
    assert isinstance(error, RateLimitedError) and error.retry_after == 17


def test_leash_codes_have_their_classes_and_unreadable_bodies_are_unexpected() -> None:
    capped = refusal_error(429, openai_body("too_many_calls"), None)
    assert isinstance(capped, TooManyCallsError)
    assert capped.error_code == "too_many_calls"
    garbled = refusal_error(502, b"<html>bad gateway</html>", None)
    assert isinstance(garbled, UnexpectedResponseError)
    assert garbled.error_code == "unexpected_response" and "502" in garbled.message
