"""OpenAI's two wire shapes for minting: GA `client_secrets` and beta `sessions` (+ Azure GA)."""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlsplit, urlunsplit

from realtime_gateway.gateway.providers.base import (
    MintedSession,
    MintRequest,
    from_unix,
    post_json,
    require_dict,
    require_str,
)
from realtime_gateway.gateway.providers.transport import Transport
from realtime_gateway.wire import ga_session_voice

GA_SUFFIX = "/realtime/client_secrets"
BETA_SUFFIX = "/realtime/sessions"


def provider_name(endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or ""
    return "Azure OpenAI" if host.endswith(".openai.azure.com") else "OpenAI"


def auth_headers(endpoint: str, api_key: str) -> dict[str, str]:
    if provider_name(endpoint) == "Azure OpenAI":
        return {"api-key": api_key}
    return {"Authorization": f"Bearer {api_key}"}


def _replace_path(endpoint: str, path: str, query: str = "") -> str:
    parts = urlsplit(endpoint)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


class GaAdapter:
    """`POST .../realtime/client_secrets`; SDP goes to `.../realtime/calls` beside it."""

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
        provider = provider_name(request.endpoint)
        body = {
            "expires_after": {"anchor": "created_at", "seconds": request.secret_ttl},
            "session": {
                "type": "realtime",
                "model": request.model,
                "audio": {"output": {"voice": request.voice}},
            },
        }
        answer = await post_json(
            transport,
            request.endpoint,
            headers=auth_headers(request.endpoint, request.api_key),
            body=body,
            timeout=request.timeout,
            provider=provider,
        )
        value = require_str(answer, "value", provider)
        secret_expires = from_unix(answer.get("expires_at"), "expires_at", provider)
        session = require_dict(answer, "session", provider)
        session_id = session.get("id")
        if not isinstance(session_id, str) or not session_id:
            session_id = "sess_" + secrets.token_hex(12)
        session_expiry = session.get("expires_at")
        expires = (
            secret_expires
            if session_expiry in (None, 0)
            else from_unix(session_expiry, "session.expires_at", provider)
        )
        path = urlsplit(request.endpoint).path
        calls_path = path[: -len(GA_SUFFIX)] + "/realtime/calls"
        return MintedSession(
            id=session_id,
            model=_str_or(session.get("model"), request.model),
            voice=ga_session_voice(session) or request.voice,
            expires_at=expires,
            client_secret=value,
            client_secret_expires_at=secret_expires,
            webrtc_url=_replace_path(request.endpoint, calls_path),
        )


class BetaAdapter:
    """`POST .../realtime/sessions`; SDP goes to `.../realtime?model=M`."""

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
        provider = provider_name(request.endpoint)
        answer = await post_json(
            transport,
            request.endpoint,
            headers=auth_headers(request.endpoint, request.api_key),
            body={"model": request.model, "voice": request.voice},
            timeout=request.timeout,
            provider=provider,
        )
        secret = require_dict(answer, "client_secret", provider)
        value = require_str(secret, "value", provider, where="client_secret.")
        secret_expires = from_unix(secret.get("expires_at"), "client_secret.expires_at", provider)
        session_expiry = answer.get("expires_at")
        expires = (
            secret_expires
            if session_expiry in (None, 0)
            else from_unix(session_expiry, "expires_at", provider)
        )
        model = _str_or(answer.get("model"), request.model)
        path = urlsplit(request.endpoint).path
        sdp_path = path[: -len(BETA_SUFFIX)] + "/realtime"
        return MintedSession(
            id=require_str(answer, "id", provider),
            model=model,
            voice=_str_or(answer.get("voice"), request.voice),
            expires_at=expires,
            client_secret=value,
            client_secret_expires_at=secret_expires,
            webrtc_url=_replace_path(request.endpoint, sdp_path, "model=" + quote(model, safe="")),
        )


def _str_or(value: object, fallback: str) -> str:
    return value if isinstance(value, str) and value else fallback
