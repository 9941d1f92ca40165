"""What brokered mode sends the provider, and how it reads the answers: through a scripted
`CallTransport` (the seam), so each wire's exact request is visible."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field

import pytest

from realtime_gateway.gateway.calls.http import UpstreamReply
from realtime_gateway.gateway.calls.records import CallGrant, CallRecord
from realtime_gateway.gateway.calls.upstream import CallUpstream
from realtime_gateway.gateway.calls.wire import CallPolicy, upstream_target
from realtime_gateway.gateway.errors import ProviderError

KEY = "sk-upstream-test-key-0123456789abcdef"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
ANSWER = SDP.replace("o=- 1", "o=- 2")


@dataclass
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedCalls:
    replies: list[UpstreamReply]
    sent: list[Sent] = field(default_factory=list)

    async def post(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamReply:
        self.sent.append(Sent(url, headers, body))
        return self.replies.pop(0)

    async def aclose(self) -> None:
        pass


def grant(endpoint: str, model: str = "gpt-realtime") -> CallGrant:
    return CallGrant("acme", model, "verse", endpoint, 2e9)


def form_fields(sent: Sent) -> dict[str, tuple[str, str]]:
    head = f"Content-Type: {sent.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + sent.body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_content_type(), part.get_payload(decode=True).decode())
    return fields


@pytest.mark.parametrize(
    ("endpoint", "model", "wire", "create_url"),
    [
        (
            "https://api.openai.com/v1/realtime/client_secrets",
            "gpt-realtime",
            "realtime",
            "https://api.openai.com/v1/realtime/calls",
        ),
        (  # the seed's beta alias is served through GA
            "https://api.openai.com/v1/realtime/sessions",
            "gpt-realtime",
            "realtime",
            "https://api.openai.com/v1/realtime/calls",
        ),
        (
            "https://api.openai.com/v1/live/sessions",
            "gpt-realtime",
            "live",
            "https://api.openai.com/v1/live/sessions",
        ),
        (  # a Live model is a Live call beside whichever endpoint it was minted against
            "https://api.openai.com/v1/realtime/client_secrets",
            "gpt-live-1",
            "live",
            "https://api.openai.com/v1/live/sessions",
        ),
        (
            "https://res.openai.azure.com/openai/v1/realtime/client_secrets",
            "gpt-realtime",
            "realtime",
            "https://res.openai.azure.com/openai/v1/realtime/calls",
        ),
    ],
)
def test_calls_are_created_beside_the_minting_endpoint(
    endpoint: str, model: str, wire: str, create_url: str
) -> None:
    target = upstream_target(grant(endpoint, model))
    assert (target.wire, target.create_url) == (wire, create_url)


async def test_realtime_call_is_unified_multipart_with_the_gateways_session() -> None:
    transport = ScriptedCalls([UpstreamReply(201, ANSWER.encode(), "/v1/realtime/calls/rtc_9")])
    upstream = CallUpstream(transport, KEY, 5.0)
    created = await upstream.create(
        grant("https://api.openai.com/v1/realtime/client_secrets"),
        SDP,
        CallPolicy(instructions="Speak only about the weather."),
    )
    assert (created.provider_call_id, created.answer_sdp) == ("rtc_9", ANSWER)
    [sent] = transport.sent
    assert sent.url == "https://api.openai.com/v1/realtime/calls"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    fields = form_fields(sent)
    assert fields["sdp"] == ("application/sdp", SDP)
    content_type, session = fields["session"]
    assert content_type == "application/json"
    assert json.loads(session) == {
        "type": "realtime",
        "model": "gpt-realtime",
        "audio": {"output": {"voice": "verse"}},
        "instructions": "Speak only about the weather.",
    }


async def test_live_call_is_a_json_session_with_webrtc_transport() -> None:
    answer = {"session": {"id": "sess_live_1"}, "transport": {"type": "webrtc", "sdp": ANSWER}}
    transport = ScriptedCalls([UpstreamReply(200, json.dumps(answer).encode())])
    policy = CallPolicy(
        instructions="Be brief.",
        allowed_client_events=["response.create"],
        allowed_server_events="all",
    )
    created = await CallUpstream(transport, KEY, 5.0).create(
        grant("https://api.openai.com/v1/live/sessions", "gpt-live-1"), SDP, policy
    )
    assert (created.target.wire, created.provider_call_id) == ("live", "sess_live_1")
    [sent] = transport.sent
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "session": {
            "model": "gpt-live-1",
            "audio": {"output": {"voice": "verse"}},
            "instructions": "Be brief.",
            "client": {
                "data_channel": {
                    "allowed_client_events": ["response.create"],
                    "allowed_server_events": "all",
                }
            },
        },
        "transport": {"type": "webrtc", "sdp": SDP},
    }


async def test_azure_gets_the_key_as_api_key_header() -> None:
    transport = ScriptedCalls([UpstreamReply(201, ANSWER.encode(), "/calls/rtc_1")])
    await CallUpstream(transport, KEY, 5.0).create(
        grant("https://res.openai.azure.com/openai/v1/realtime/client_secrets"), SDP, CallPolicy()
    )
    assert transport.sent[0].headers["api-key"] == KEY
    assert "Authorization" not in transport.sent[0].headers


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            UpstreamReply(500, b'{"error": "boom sk-leak"}'),
            "OpenAI returned 500 Internal Server Error",
        ),
        (UpstreamReply(429, b"{}"), "OpenAI returned 429 Too Many Requests (the provider's own"),
        (UpstreamReply(307, b"", "https://elsewhere/"), "OpenAI returned 307 Temporary Redirect"),
        (UpstreamReply(201, ANSWER.encode()), "malformed call (no call id in Location)"),
        (
            UpstreamReply(201, ANSWER.encode(), "/calls/rtc_1%2F..%2Fadmin"),
            "not a plain identifier",
        ),
        (UpstreamReply(201, b"<html>", "/calls/rtc_1"), "malformed call (the answer is not SDP)"),
    ],
)
async def test_provider_failures_are_provider_errors_in_our_words(
    reply: UpstreamReply, message: str
) -> None:
    upstream = CallUpstream(ScriptedCalls([reply]), KEY, 5.0)
    with pytest.raises(ProviderError) as raised:
        await upstream.create(
            grant("https://api.openai.com/v1/realtime/client_secrets"), SDP, CallPolicy()
        )
    assert raised.value.message.startswith(message) or message in raised.value.message
    assert "sk-leak" not in raised.value.message


async def test_hangup_goes_to_the_calls_own_url_and_tolerates_a_gone_call() -> None:
    transport = ScriptedCalls([UpstreamReply(404, b"{}"), UpstreamReply(500, b"{}")])
    upstream = CallUpstream(transport, KEY, 5.0)
    record = CallRecord(
        call_id="call_1",
        tenant="acme",
        provider_call_id="sess_live_1",
        wire="live",
        upstream_endpoint="https://api.openai.com/v1/live/sessions",
        model="gpt-live-1",
        voice="verse",
        started_at=0.0,
        deadline=900.0,
    )
    await upstream.hang_up(record)
    assert transport.sent[0].url == "https://api.openai.com/v1/live/sessions/sess_live_1/hangup"
    with pytest.raises(ProviderError):
        await upstream.hang_up(record)
