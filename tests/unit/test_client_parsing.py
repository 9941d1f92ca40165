"""The client's parsing of gateway answers: sessions, times, Retry-After, error bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from realtime_gateway.client import (
    CallsUnavailableError,
    InvalidRequestError,
    LimiterUnavailableError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    TooManyCallsError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from realtime_gateway.client.http import error_from_response, parse_retry_after
from realtime_gateway.client.models import parse_session

SECRET = "ek_test_0123456789abcdef"
DOCUMENTED = {
    "session": {
        "id": "sess_abc123",
        "model": "gpt-4o-realtime-preview",
        "voice": "verse",
        "expires_at": "2025-10-09T18:00:00Z",
        "client_secret": {"value": SECRET, "expires_at": "2025-10-09T18:01:00Z"},
        "webrtc_url": "https://api.openai.com/v1/realtime/calls",
    }
}


def test_documented_session_parses_to_typed_fields() -> None:
    session = parse_session(DOCUMENTED)
    assert session.id == "sess_abc123"
    assert session.model == "gpt-4o-realtime-preview"
    assert session.voice == "verse"
    assert session.expires_at == datetime(2025, 10, 9, 18, 0, tzinfo=UTC)
    assert session.client_secret.value == SECRET
    assert session.client_secret.expires_at == datetime(2025, 10, 9, 18, 1, tzinfo=UTC)
    assert session.webrtc_url == "https://api.openai.com/v1/realtime/calls"


def test_secret_value_not_in_session_repr() -> None:
    session = parse_session(DOCUMENTED)
    assert SECRET not in repr(session)
    assert SECRET not in str(session)
    assert "sess_abc123" in repr(session)


def test_session_is_frozen() -> None:
    session = parse_session(DOCUMENTED)
    with pytest.raises(AttributeError):
        session.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"session": "nope"},
        {"session": {**DOCUMENTED["session"], "client_secret": None}},
        {"session": {**DOCUMENTED["session"], "webrtc_url": ""}},
        {"session": {**DOCUMENTED["session"], "expires_at": "yesterday"}},
    ],
)
def test_malformed_session_is_refused(body: object) -> None:
    with pytest.raises(ValueError):
        parse_session(body)


def test_retry_after_in_seconds_and_as_date() -> None:
    assert parse_retry_after("17") == 17
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT")
    assert later is not None and later > 10**8


def _answer(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid_request", InvalidRequestError),
        (401, "unauthorized", UnauthorizedError),
        (500, "provider_error", ProviderError),
        (503, "limiter_unavailable", LimiterUnavailableError),
        (429, "too_many_calls", TooManyCallsError),
        (429, "quota_exceeded", QuotaExceededError),
        (503, "calls_unavailable", CallsUnavailableError),
    ],
)
def test_each_error_code_has_its_class(status: int, code: str, cls: type) -> None:
    error = error_from_response(_answer(status, {"error_code": code, "message": "why"}))
    assert type(error) is cls
    assert (error.status, error.error_code, error.message) == (status, code, "why")


def test_rate_limited_carries_retry_after() -> None:
    answer = _answer(429, {"error_code": "rate_limited", "message": "slow"}, {"Retry-After": "41"})
    error = error_from_response(answer)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 41 and error.status == 429


def test_any_refusal_keeps_its_retry_after() -> None:
    body = {"error_code": "quota_exceeded", "message": "spent"}
    error = error_from_response(_answer(429, body, {"Retry-After": "3600"}))
    assert isinstance(error, QuotaExceededError) and error.retry_after == 3600


def test_unknown_code_and_non_json_are_unexpected() -> None:
    unknown = error_from_response(_answer(418, {"error_code": "teapot", "message": "short"}))
    assert isinstance(unknown, UnexpectedResponseError)
    assert unknown.error_code == "teapot" and unknown.status == 418
    html = error_from_response(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(html, UnexpectedResponseError)
    assert html.error_code == "unexpected_response" and html.status == 502
