"""What a provider module is: the one seam between the gateway and a provider's wire.

A provider mints (direct mode), creates and hangs up calls, names its sideband, and reads
usage off its events. Each provider is one module (`realtime.py`, `live.py`, `azure.py`);
`registry.py` chooses one from an endpoint, so a new provider is one module and a line there.
`post_call` is the one place a call-control request carries the provider key: redirects never
followed, a total timeout, our own error messages, the provider's body only in the log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.providers.base import (
    MintedSession,
    MintRequest,
    reason_phrase,
    redact,
)
from realtime_gateway.gateway.providers.call_http import CallTransport, UpstreamReply
from realtime_gateway.gateway.providers.transport import (
    Transport,
    UpstreamTimeout,
    UpstreamUnreachable,
)

log = logging.getLogger("realtime_gateway.provider.calls")


@dataclass(frozen=True)
class CreatedCall:
    provider_call_id: str
    answer_sdp: str


@dataclass(frozen=True)
class CallControl:
    """What a provider's call-control request needs: the client, the key, the timeout."""

    http: CallTransport
    api_key: str
    timeout: float


class Provider(Protocol):
    name: str  # kept in call records: the registry finds the module again by it
    label: str  # in messages: "OpenAI returned 500 Internal Server Error"
    mints: bool  # False: no secret for a browser (Live); calls are always brokered

    def handles(self, endpoint: str, model: str) -> bool:
        """Whether this provider serves an allow-listed endpoint (and model)."""
        ...

    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
        """Direct mode: the provider's own short-lived secret."""
        ...

    def calls_endpoint(self, endpoint: str) -> str:
        """Where calls are created, beside the endpoint the caller minted against."""
        ...

    async def create_call(
        self, control: CallControl, spec: CallSpec, policy: TenantPolicy, sdp: str
    ) -> CreatedCall:
        """Create a WebRTC call with the caller's offer, the session built from the spec
        under the tenant's pins; a `ProviderError` with our message if it is refused."""
        ...

    async def hang_up(self, control: CallControl, record: CallRecord) -> None:
        """End the call at the provider; a call it no longer knows counts as ended."""
        ...

    async def refer(self, control: CallControl, record: CallRecord, target: str) -> None:
        """Transfer a phone call to `target` (already checked against the tenant's policy)."""
        ...

    def sideband_url(self, record: CallRecord) -> str:
        """The provider's WebSocket for a live call's server events (and client events)."""
        ...

    def usage_of(self, event: dict[str, Any]) -> UsageReport | None:
        """The usage an event of the sideband carries, if any."""
        ...

    def session_url(self, spec: CallSpec, intent: str | None) -> str | None:
        """The provider's Realtime WebSocket for a session relayed by the gateway (`model`
        from the spec, or `intent=transcription`); None: the provider has none."""
        ...


async def post_call(
    control: CallControl,
    url: str,
    headers: dict[str, str],
    body: bytes,
    label: str,
    *,
    tolerate: tuple[int, ...] = (),
) -> UpstreamReply:
    """POST a call-control request; a 2xx (or a tolerated status) answer, else ProviderError."""
    try:
        reply = await control.http.post(url, headers=headers, body=body, timeout=control.timeout)
    except UpstreamTimeout as error:
        raise ProviderError(f"{label} did not answer within {control.timeout:g} s") from error
    except UpstreamUnreachable as error:
        log.warning("provider unreachable", extra={"provider": label, "error": str(error)})
        raise ProviderError(f"{label} could not be reached") from error
    if 200 <= reply.status < 300 or reply.status in tolerate:
        return reply
    log.warning(
        "provider refused the call request",
        extra={
            "provider": label,
            "status": reply.status,
            "path": urlsplit(url).path.rsplit("/", 2)[0],
            "body": redact(reply.text[:4096]),
        },
    )
    message = f"{label} returned {reply.status} {reason_phrase(reply.status)}"
    if reply.status == 429:
        message += " (the provider's own rate limit, not this gateway's)"
    elif 300 <= reply.status < 400:
        message += " (redirects are not followed)"
    raise ProviderError(message)


async def call_action(
    control: CallControl,
    record: CallRecord,
    action: str,
    headers: dict[str, str],
    body: dict[str, Any],
    label: str,
    *,
    tolerate: tuple[int, ...] = (),
) -> UpstreamReply:
    """`POST <calls endpoint>/<provider call id>/<action>` (`hangup`, `refer`, `accept`...),
    the shape OpenAI's Realtime calls and Live sessions share."""
    url = f"{record.spec.endpoint}/{quote(record.provider_call_id, safe='')}/{action}"
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = {**headers, "Content-Type": "application/json"}
    return await post_call(control, url, headers, payload, label, tolerate=tolerate)


class MalformedCall(ProviderError):
    """The provider answered 2xx but not a usable call. `provider_call_id` is set when the
    answer named one: the call exists there and must be hung up."""

    def __init__(self, label: str, detail: str, provider_call_id: str = "") -> None:
        log.warning("malformed provider call answer", extra={"provider": label, "detail": detail})
        super().__init__(f"{label} answered a malformed call ({detail})")
        self.provider_call_id = provider_call_id
