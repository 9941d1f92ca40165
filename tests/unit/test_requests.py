"""The session request body: every refusal is a 400 that names the field."""

from __future__ import annotations

import json

import pytest

from realtime_gateway.gateway.allowlist import AllowList
from realtime_gateway.gateway.body import RequestRules, SessionRequest, parse_session_request
from realtime_gateway.gateway.errors import InvalidRequest

GA = "https://api.openai.com/v1/realtime/client_secrets"
LOCAL = "http://127.0.0.1:8090/v1/realtime/sessions"


def rules(models: tuple[str, ...] = (), voices: tuple[str, ...] = ()) -> RequestRules:
    return RequestRules(AllowList([GA, LOCAL]), GA, frozenset(models), frozenset(voices))


def parse(body: object, **kwargs: tuple[str, ...]) -> SessionRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_session_request(raw, rules(**kwargs))


def test_minimal_body_uses_the_default_endpoint() -> None:
    assert parse({"model": "gpt-realtime", "voice": "verse"}) == SessionRequest(
        "gpt-realtime", "verse", GA
    )
    # An explicit null is the same as leaving the endpoint out.
    assert parse({"model": "m", "voice": "v", "endpoint": None}) == SessionRequest("m", "v", GA)


@pytest.mark.parametrize(
    ("endpoint", "normalised"),
    [
        ("HTTP://127.0.0.1:8090/v1/realtime/sessions", LOCAL),
        ("https://API.OpenAI.com:443/v1/realtime/client_secrets", GA),
        (GA, GA),
    ],
)
def test_allowed_endpoint_override_is_normalised(endpoint: str, normalised: str) -> None:
    request = parse({"model": "m", "voice": "v", "endpoint": endpoint})
    assert request == SessionRequest("m", "v", normalised)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        ([1, 2], "JSON object"),
        ("text", "JSON object"),
        ({"voice": "verse"}, "model is required"),
        ({"model": "gpt-realtime"}, "voice is required"),
        ({"model": "", "voice": "verse"}, "model must be"),
        ({"model": "gpt realtime", "voice": "verse"}, "model must be"),
        ({"model": "gpt-realtime\n", "voice": "verse"}, "model must be"),
        ({"model": "m" * 65, "voice": "verse"}, "model must be"),
        ({"model": 7, "voice": "verse"}, "model must be"),
        ({"model": "m", "voice": "v" * 33}, "voice must be"),
        ({"model": "m", "voice": "v", "temperature": 1}, "unknown field 'temperature'"),
        ({"model": "m", "voice": "v", "endpoint": 5}, "endpoint must be"),
        ({"model": "m", "voice": "v", "endpoint": "not a url"}, "endpoint contains white space"),
        (
            {"model": "m", "voice": "v", "endpoint": "https://evil.example/x"},
            "not in the gateway's",
        ),
        ({"model": "m", "voice": "v", "endpoint": "https://api.openai.com/v1/other"}, "not in"),
    ],
)
def test_bad_bodies_are_invalid_requests(body: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as refused:
        parse(body)
    assert refused.value.status_code == 400
    # A refused endpoint is never echoed back.
    assert "evil.example" not in refused.value.message


def test_allowed_models_and_voices_when_set() -> None:
    allowed = parse({"model": "a", "voice": "x"}, models=("a",), voices=("x",))
    assert allowed == SessionRequest("a", "x", GA)
    with pytest.raises(InvalidRequest, match="model 'b' is not allowed"):
        parse({"model": "b", "voice": "x"}, models=("a",))
    with pytest.raises(InvalidRequest, match="voice 'y' is not allowed"):
        parse({"model": "a", "voice": "y"}, voices=("x",))
