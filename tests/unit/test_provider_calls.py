"""What each provider module sends to create and hang up a call, where its sideband is, and
how it reads answers and usage: through a scripted `CallTransport` (the seam), so each
provider's exact request is visible. The provider is chosen by the registry, as in serving."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field

import pytest

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.providers.call_http import UpstreamReply
from realtime_gateway.gateway.providers.protocol import CallControl, CreatedCall, MalformedCall
from realtime_gateway.gateway.providers.registry import provider_for, provider_named
from realtime_gateway.gateway.settings import DataChannelPermissions

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


def spec(endpoint: str, model: str = "gpt-realtime") -> CallSpec:
    """A call minted against `endpoint`, as the service makes its spec."""
    provider, target = provider_for(endpoint, model)
    return CallSpec(provider.name, provider.calls_endpoint(target), model, "verse")


async def create(
    transport: ScriptedCalls, endpoint: str, model: str = "gpt-realtime", **policy: object
) -> CreatedCall:
    made = spec(endpoint, model)
    control = CallControl(transport, KEY, 5.0)
    return await provider_named(made.provider).create_call(
        control,
        made,
        TenantPolicy(**policy),
        SDP,  # type: ignore[arg-type]
    )


def record(provider: str, endpoint: str, provider_call_id: str) -> CallRecord:
    return CallRecord(
        call_id="call_" + "0" * 24,
        tenant="acme",
        state="live",
        transport="webrtc",
        spec=CallSpec(provider, endpoint, "gpt-realtime", "verse"),
        started_ms=0,
        deadline_ms=900_000,
        provider_call_id=provider_call_id,
    )


def form_fields(sent: Sent) -> dict[str, tuple[str, str]]:
    head = f"Content-Type: {sent.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + sent.body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_content_type(), part.get_payload(decode=True).decode())
    return fields


@pytest.mark.parametrize(
    ("endpoint", "model", "provider", "create_url"),
    [
        (
            "https://api.openai.com/v1/realtime/client_secrets",
            "gpt-realtime",
            "openai",
            "https://api.openai.com/v1/realtime/calls",
        ),
        (  # the seed's beta alias is served through GA
            "https://api.openai.com/v1/realtime/sessions",
            "gpt-realtime",
            "openai",
            "https://api.openai.com/v1/realtime/calls",
        ),
        (
            "https://api.openai.com/v1/live/sessions",
            "gpt-realtime",
            "openai-live",
            "https://api.openai.com/v1/live/sessions",
        ),
        (  # a Live model is a Live call beside whichever endpoint it was minted against
            "https://api.openai.com/v1/realtime/client_secrets",
            "gpt-live-1",
            "openai-live",
            "https://api.openai.com/v1/live/sessions",
        ),
        (
            "https://res.openai.azure.com/openai/v1/realtime/client_secrets",
            "gpt-realtime",
            "azure",
            "https://res.openai.azure.com/openai/v1/realtime/calls",
        ),
    ],
)
def test_calls_are_created_beside_the_minting_endpoint(
    endpoint: str, model: str, provider: str, create_url: str
) -> None:
    made = spec(endpoint, model)
    assert (made.provider, made.endpoint) == (provider, create_url)


async def test_realtime_call_is_unified_multipart_with_the_gateways_session() -> None:
    transport = ScriptedCalls([UpstreamReply(201, ANSWER.encode(), "/v1/realtime/calls/rtc_9")])
    created = await create(
        transport,
        "https://api.openai.com/v1/realtime/client_secrets",
        instructions="Speak only about the weather.",
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
    channel = DataChannelPermissions(
        allowed_client_events=["response.create"], allowed_server_events="all"
    )
    created = await create(
        transport,
        "https://api.openai.com/v1/live/sessions",
        "gpt-live-1",
        instructions="Be brief.",
        data_channel=channel,
    )
    assert created.provider_call_id == "sess_live_1"
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
    await create(transport, "https://res.openai.azure.com/openai/v1/realtime/client_secrets")
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
    with pytest.raises(ProviderError) as raised:
        await create(ScriptedCalls([reply]), "https://api.openai.com/v1/realtime/client_secrets")
    assert raised.value.message.startswith(message) or message in raised.value.message
    assert "sk-leak" not in raised.value.message


async def test_a_malformed_answer_names_the_call_it_made_so_it_can_be_hung_up() -> None:
    reply = UpstreamReply(201, b"<html>", "/v1/realtime/calls/rtc_made")
    with pytest.raises(MalformedCall) as raised:
        await create(ScriptedCalls([reply]), "https://api.openai.com/v1/realtime/client_secrets")
    assert raised.value.provider_call_id == "rtc_made"


async def test_hangup_goes_to_the_calls_own_url_and_tolerates_a_gone_call() -> None:
    transport = ScriptedCalls([UpstreamReply(404, b"{}"), UpstreamReply(500, b"{}")])
    live = record("openai-live", "https://api.openai.com/v1/live/sessions", "sess_live_1")
    control = CallControl(transport, KEY, 5.0)
    await provider_named("openai-live").hang_up(control, live)
    assert transport.sent[0].url == "https://api.openai.com/v1/live/sessions/sess_live_1/hangup"
    with pytest.raises(ProviderError):
        await provider_named("openai-live").hang_up(control, live)


@pytest.mark.parametrize(
    ("provider", "endpoint", "expected"),
    [
        (
            "openai",
            "https://api.openai.com/v1/realtime/calls",
            "wss://api.openai.com/v1/realtime?call_id=rtc_1",
        ),
        (
            "openai-live",
            "https://api.openai.com/v1/live/sessions",
            "wss://api.openai.com/v1/live/sessions/rtc_1/attach",
        ),
        (
            "azure",
            "https://acme.openai.azure.com/openai/v1/realtime/calls",
            "wss://acme.openai.azure.com/openai/v1/realtime?call_id=rtc_1",
        ),
        (
            "openai",
            "http://127.0.0.1:8090/v1/realtime/calls",
            "ws://127.0.0.1:8090/v1/realtime?call_id=rtc_1",
        ),
    ],
)
def test_sideband_url_per_provider(provider: str, endpoint: str, expected: str) -> None:
    assert provider_named(provider).sideband_url(record(provider, endpoint, "rtc_1")) == expected


def test_a_provider_call_id_cannot_leave_its_place_in_the_url() -> None:
    live = record("openai-live", "https://api.openai.com/v1/live/sessions", "a/../b?x=1")
    url = provider_named("openai-live").sideband_url(live)
    assert url == "wss://api.openai.com/v1/live/sessions/a%2F..%2Fb%3Fx%3D1/attach"


def test_each_provider_reads_its_own_usage() -> None:
    done = {
        "type": "response.done",
        "response": {"id": "resp_7", "usage": {"input_tokens": 12, "output_tokens": 30}},
    }
    closed = {"type": "session.closed", "usage": {"seconds": 4.25}}
    assert provider_named("openai").usage_of(done) == UsageReport("resp_7", 12, 30)
    assert provider_named("openai").usage_of(closed) is None
    assert provider_named("openai-live").usage_of(closed) == UsageReport(audio_ms=4250)
    assert provider_named("openai-live").usage_of({"type": "session.usage.updated"}) is None
