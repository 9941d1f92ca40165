"""What the gateway sends the provider to create a brokered call, built from the minted grant
and the tenant's policy, never from anything the caller put in its offer request.

    Realtime GA   POST <prefix>/realtime/calls   multipart: sdp + session JSON
    Live          POST <prefix>/live/sessions    {session: {...}, transport: {type, sdp}}
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from realtime_gateway.gateway.calls.records import CallGrant, CallWire
from realtime_gateway.gateway.providers import ALIASES
from realtime_gateway.gateway.providers.live import LIVE_SUFFIX, is_live
from realtime_gateway.gateway.providers.openai import BETA_SUFFIX, GA_SUFFIX, provider_name

EventList = Literal["all"] | list[Any]


@dataclass(frozen=True)
class CallPolicy:
    """The tenant's pins on the upstream session (the leash fills these from its settings)."""

    instructions: str | None = None
    allowed_client_events: EventList | None = None  # Live frontend data channel
    allowed_server_events: EventList | None = None


@dataclass(frozen=True)
class UpstreamTarget:
    wire: CallWire
    create_url: str  # `.../realtime/calls` or `.../live/sessions`
    provider: str  # "OpenAI" or "Azure OpenAI", for messages


def api_prefix(endpoint: str) -> tuple[str, str]:
    """(scheme://host, path prefix before `/realtime/...` or `/live/...`) of a minting endpoint."""
    endpoint = ALIASES.get(endpoint, endpoint)
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    for suffix in (GA_SUFFIX, BETA_SUFFIX, LIVE_SUFFIX):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), path


def upstream_target(grant: CallGrant) -> UpstreamTarget:
    """Where the call is created: beside the endpoint the caller minted against (same origin
    and prefix, so the key only goes where the allow-list lets it)."""
    origin, prefix = api_prefix(grant.endpoint)
    provider = provider_name(origin)
    if is_live(grant.model, grant.endpoint):
        return UpstreamTarget("live", f"{origin}{prefix}{LIVE_SUFFIX}", provider)
    return UpstreamTarget("realtime", f"{origin}{prefix}/realtime/calls", provider)


def hangup_url(create_url: str, provider_call_id: str) -> str:
    return f"{create_url}/{provider_call_id}/hangup"


def realtime_session(grant: CallGrant, policy: CallPolicy) -> dict[str, Any]:
    session: dict[str, Any] = {
        "type": "realtime",
        "model": grant.model,
        "audio": {"output": {"voice": grant.voice}},
    }
    if policy.instructions is not None:
        session["instructions"] = policy.instructions
    return session


def live_request(grant: CallGrant, policy: CallPolicy, sdp: str) -> dict[str, Any]:
    session: dict[str, Any] = {"model": grant.model, "audio": {"output": {"voice": grant.voice}}}
    if policy.instructions is not None:
        session["instructions"] = policy.instructions
    channel: dict[str, Any] = {}
    if policy.allowed_client_events is not None:
        channel["allowed_client_events"] = policy.allowed_client_events
    if policy.allowed_server_events is not None:
        channel["allowed_server_events"] = policy.allowed_server_events
    if channel:
        session["client"] = {"data_channel": channel}
    return {"session": session, "transport": {"type": "webrtc", "sdp": sdp}}


def multipart_form(parts: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A `multipart/form-data` body of (name, content type, content) parts, and its type."""
    boundary = "rtg-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, content_type, content in parts:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        chunks.append(content)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def realtime_form(grant: CallGrant, policy: CallPolicy, sdp: str) -> tuple[bytes, str]:
    session = json.dumps(realtime_session(grant, policy), separators=(",", ":"))
    return multipart_form(
        [
            ("sdp", "application/sdp", sdp.encode()),
            ("session", "application/json", session.encode()),
        ]
    )
