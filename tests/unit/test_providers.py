"""Provider adapters: the wire each one sends and how its answer is normalised.

`Transport` is the seam: a scripted transport here (no monkeypatching); the integration tests
run the same adapters over the HTTP/1.1 transport against real servers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.providers.base import MintRequest, redact
from realtime_gateway.gateway.providers.registry import provider_for
from realtime_gateway.gateway.providers.transport import (
    UpstreamAnswer,
    UpstreamTimeout,
    UpstreamUnreachable,
)

GA = "https://api.openai.com/v1/realtime/client_secrets"
BETA = "https://api.openai.com/v1/realtime/sessions"
AZURE = "https://contoso.openai.azure.com/openai/v1/realtime/client_secrets"
LOCAL_BETA = "http://127.0.0.1:8090/v1/realtime/sessions"
KEY = "sk-provider-key-0123456789abcdef"


@dataclass
class Sent:
    url: str
    headers: dict[str, str]
    content: bytes


Handler = Callable[[Sent], UpstreamAnswer]


class ScriptedTransport:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer:
        return self.handler(Sent(url, {k.lower(): v for k, v in headers.items()}, body))

    async def aclose(self) -> None:
        pass


def answer(status: int, body: Any = None, text: str | None = None) -> UpstreamAnswer:
    return UpstreamAnswer(status, (text if text is not None else json.dumps(body)).encode())


async def mint(endpoint: str, handler: Handler, timeout: float = 5.0) -> Any:
    adapter, target = provider_for(endpoint)
    return await adapter.mint(
        ScriptedTransport(handler), MintRequest(target, "gpt-realtime", "verse", KEY, 60, timeout)
    )


def ga_answer(request: Sent) -> UpstreamAnswer:
    return answer(
        200,
        {
            "value": "ek_secret",
            "expires_at": 1760032800,
            "session": {
                "id": "sess_1",
                "type": "realtime",
                "model": "gpt-realtime",
                "audio": {"output": {"voice": "verse"}},
            },
        },
    )


async def test_seed_beta_url_is_served_through_ga() -> None:
    seen: list[Sent] = []

    def handler(request: Sent) -> UpstreamAnswer:
        seen.append(request)
        return ga_answer(request)

    session = await mint(BETA, handler)
    assert seen[0].url == GA
    assert json.loads(seen[0].content) == {
        "expires_after": {"anchor": "created_at", "seconds": 60},
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "audio": {"output": {"voice": "verse"}},
        },
    }
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert session.webrtc_url == "https://api.openai.com/v1/realtime/calls"
    body = session.to_response()["session"]
    assert body["id"] == "sess_1"
    assert body["client_secret"] == {"value": "ek_secret", "expires_at": "2025-10-09T18:00:00Z"}
    assert body["expires_at"] == "2025-10-09T18:00:00Z"  # no session expiry: the secret's


async def test_azure_uses_api_key_header_and_its_calls_path() -> None:
    seen: list[Sent] = []

    def handler(request: Sent) -> UpstreamAnswer:
        seen.append(request)
        return ga_answer(request)

    session = await mint(AZURE, handler)
    assert seen[0].headers["api-key"] == KEY
    assert "authorization" not in seen[0].headers
    assert session.webrtc_url == "https://contoso.openai.azure.com/openai/v1/realtime/calls"


async def test_beta_shape_against_a_compatible_server() -> None:
    seen: list[Sent] = []

    def handler(request: Sent) -> UpstreamAnswer:
        seen.append(request)
        return answer(
            200,
            {
                "id": "sess_b",
                "model": "gpt-realtime",
                "voice": "verse",
                "expires_at": 1760034600,
                "client_secret": {"value": "ek_b", "expires_at": 1760032800},
            },
        )

    session = await mint(LOCAL_BETA, handler)
    assert json.loads(seen[0].content) == {"model": "gpt-realtime", "voice": "verse"}
    assert session.webrtc_url == "http://127.0.0.1:8090/v1/realtime?model=gpt-realtime"
    body = session.to_response()["session"]
    assert body["expires_at"] == "2025-10-09T18:30:00Z"
    assert body["client_secret"]["expires_at"] == "2025-10-09T18:00:00Z"


def test_unknown_wire_is_refused() -> None:
    with pytest.raises(ValueError, match="neither"):
        provider_for("https://api.openai.com/v1/chat/completions")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "OpenAI returned 401 Unauthorized"),
        (403, "OpenAI returned 403 Forbidden"),
        (429, "OpenAI returned 429 Too Many Requests (the provider's own rate limit"),
        (500, "OpenAI returned 500 Internal Server Error"),
        (503, "OpenAI returned 503 Service Unavailable"),
        (302, "OpenAI returned 302 Found (redirects are not followed)"),
    ],
)
async def test_provider_refusals_become_our_message(status: int, message: str) -> None:
    def handler(request: Sent) -> UpstreamAnswer:
        return answer(
            status,
            {
                "error": {
                    "message": "Incorrect API key provided: sk-prov****cdef",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                    "param": None,
                }
            },
        )

    with pytest.raises(ProviderError) as raised:
        await mint(GA, handler)
    assert str(raised.value).startswith(message)
    assert "sk-" not in str(raised.value)


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (answer(200, text="<html>oops</html>"), "not JSON"),
        (answer(200, [1]), "not a JSON object"),
        (answer(200, {"expires_at": 1, "session": {}}), "no value"),
        (
            answer(200, {"value": "ek", "expires_at": "soon", "session": {}}),
            "expires_at",
        ),
        (answer(200, {"value": "ek", "expires_at": 1}), "no session"),
    ],
)
async def test_malformed_answers_are_provider_errors(reply: UpstreamAnswer, detail: str) -> None:
    with pytest.raises(ProviderError, match="malformed session") as raised:
        await mint(GA, lambda request: reply)
    assert detail in str(raised.value)


async def test_timeout_and_unreachable() -> None:
    def hang(request: Sent) -> UpstreamAnswer:
        raise UpstreamTimeout

    def refuse(request: Sent) -> UpstreamAnswer:
        raise UpstreamUnreachable("ConnectionRefusedError")

    with pytest.raises(ProviderError, match=r"^OpenAI did not answer within 2.5 s$"):
        await mint(GA, hang, timeout=2.5)
    with pytest.raises(ProviderError, match="could not be reached"):
        await mint(GA, refuse)


def test_redact_drops_secret_like_tokens() -> None:
    text = "Incorrect API key provided: sk-proj-abcdefgh1234. secret ek_abcdef123456 ok"
    cleaned = redact(text)
    assert "abcdefgh1234" not in cleaned and "ek_abcdef123456" not in cleaned
    assert "Incorrect API key provided" in cleaned
