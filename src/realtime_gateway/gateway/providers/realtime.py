"""OpenAI Realtime (GA): minting at `.../realtime/client_secrets`, calls at `.../realtime/calls`
(multipart `sdp` + `session`), hang-up at `.../calls/{id}/hangup`, the sideband WebSocket at
`.../realtime?call_id=`, usage from `response.done`. The beta minting shape
(`.../realtime/sessions`) is `RealtimeBeta`: its brokered calls are GA calls beside it."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.providers.base import (
    MintedSession,
    MintRequest,
    from_unix,
    post_json,
    require_dict,
    require_str,
)
from realtime_gateway.gateway.providers.multipart_form import multipart_form
from realtime_gateway.gateway.providers.protocol import (
    CallControl,
    CreatedCall,
    MalformedCall,
    call_action,
    post_call,
)
from realtime_gateway.gateway.providers.transport import Transport
from realtime_gateway.wire import ga_session_voice

GA_SUFFIX = "/realtime/client_secrets"
BETA_SUFFIX = "/realtime/sessions"
CALLS_SUFFIX = "/realtime/calls"
PLAIN_ID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def replace_path(endpoint: str, path: str, query: str = "") -> str:
    parts = urlsplit(endpoint)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def api_root(endpoint: str) -> str:
    """`https://host/v1` of an endpoint under `.../realtime/...` or `.../live/...`."""
    path = urlsplit(endpoint).path.rstrip("/")
    for marker in ("/realtime", "/live"):
        index = path.rfind(marker)
        if index >= 0:
            path = path[:index]
            break
    return replace_path(endpoint, path)


def is_plain_id(value: str) -> bool:
    """A provider id that can sit in a URL path segment as it is."""
    return 0 < len(value) <= 128 and value not in (".", "..") and set(value) <= PLAIN_ID


def realtime_session(spec: CallSpec, policy: TenantPolicy) -> dict[str, Any]:
    """The upstream session: the caller's fields, then model and voice, then the pins."""
    session: dict[str, Any] = {**spec.session, "type": "realtime", "model": spec.model}
    audio = dict(session.get("audio") or {})
    audio["output"] = {**(audio.get("output") or {}), "voice": spec.voice}
    session["audio"] = audio
    if policy.instructions is not None:
        session["instructions"] = policy.instructions
    return session


def response_usage(event: dict[str, Any]) -> UsageReport | None:
    """`response.done` -> its response's token usage, keyed by the response id."""
    if event.get("type") != "response.done":
        return None
    response = event.get("response")
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return None
    response_id = response.get("id") if isinstance(response, dict) else None
    return UsageReport(
        response_id=response_id if isinstance(response_id, str) else "",
        tokens_in=_count(usage.get("input_tokens")),
        tokens_out=_count(usage.get("output_tokens")),
    )


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


class RealtimeGa:
    name = "openai"
    label = "OpenAI"
    mints = True  # direct mode: a secret of the provider's own

    def handles(self, endpoint: str, model: str) -> bool:
        return urlsplit(endpoint).path.rstrip("/").endswith(GA_SUFFIX)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
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
            headers=self.auth_headers(request.api_key),
            body=body,
            timeout=request.timeout,
            provider=self.label,
        )
        value = require_str(answer, "value", self.label)
        secret_expires = from_unix(answer.get("expires_at"), "expires_at", self.label)
        session = require_dict(answer, "session", self.label)
        session_id = session.get("id")
        if not isinstance(session_id, str) or not session_id:
            session_id = "sess_" + secrets.token_hex(12)
        session_expiry = session.get("expires_at")
        expires = (
            secret_expires
            if session_expiry in (None, 0)
            else from_unix(session_expiry, "session.expires_at", self.label)
        )
        return MintedSession(
            id=session_id,
            model=_str_or(session.get("model"), request.model),
            voice=ga_session_voice(session) or request.voice,
            expires_at=expires,
            client_secret=value,
            client_secret_expires_at=secret_expires,
            webrtc_url=self.calls_endpoint(request.endpoint),
        )

    def calls_endpoint(self, endpoint: str) -> str:
        return api_root(endpoint) + CALLS_SUFFIX

    async def create_call(
        self, control: CallControl, spec: CallSpec, policy: TenantPolicy, sdp: str
    ) -> CreatedCall:
        session = json.dumps(realtime_session(spec, policy), separators=(",", ":"))
        body, content_type = multipart_form(
            [
                ("sdp", "application/sdp", sdp.encode()),
                ("session", "application/json", session.encode()),
            ]
        )
        headers = {
            **self.auth_headers(control.api_key),
            "Content-Type": content_type,
            "Accept": "application/sdp",
        }
        reply = await post_call(control, spec.endpoint, headers, body, self.label)
        location = (reply.location or "").rstrip("/")
        call_id = location.rsplit("/", 1)[-1] if location else ""
        if not call_id:
            raise MalformedCall(self.label, "no call id in Location")
        if not is_plain_id(call_id):
            raise MalformedCall(self.label, "the call id is not a plain identifier", call_id)
        if not reply.text.lstrip().startswith("v=0"):
            raise MalformedCall(self.label, "the answer is not SDP", call_id)
        return CreatedCall(call_id, reply.text)

    async def hang_up(self, control: CallControl, record: CallRecord) -> None:
        headers = self.auth_headers(control.api_key)
        await call_action(control, record, "hangup", headers, {}, self.label, tolerate=(404,))

    async def refer(self, control: CallControl, record: CallRecord, target: str) -> None:
        headers = self.auth_headers(control.api_key)
        await call_action(control, record, "refer", headers, {"target_uri": target}, self.label)

    def sideband_url(self, record: CallRecord) -> str:
        parts = urlsplit(api_root(record.spec.endpoint))
        scheme = {"https": "wss", "http": "ws"}[parts.scheme]
        query = "call_id=" + quote(record.provider_call_id, safe="")
        return urlunsplit((scheme, parts.netloc, parts.path + "/realtime", query, ""))

    def usage_of(self, event: dict[str, Any]) -> UsageReport | None:
        return response_usage(event)

    def session_url(self, spec: CallSpec, intent: str | None) -> str | None:
        parts = urlsplit(api_root(spec.endpoint))
        scheme = {"https": "wss", "http": "ws"}[parts.scheme]
        if intent is not None:
            query = "intent=" + quote(intent, safe="")
        else:
            query = "model=" + quote(spec.model, safe="")
        return urlunsplit((scheme, parts.netloc, parts.path + "/realtime", query, ""))


class RealtimeBeta(RealtimeGa):
    """The beta minting shape (`POST .../realtime/sessions`, SDP at `.../realtime?model=M`)."""

    def handles(self, endpoint: str, model: str) -> bool:
        return urlsplit(endpoint).path.rstrip("/").endswith(BETA_SUFFIX)

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
        answer = await post_json(
            transport,
            request.endpoint,
            headers=self.auth_headers(request.api_key),
            body={"model": request.model, "voice": request.voice},
            timeout=request.timeout,
            provider=self.label,
        )
        secret = require_dict(answer, "client_secret", self.label)
        value = require_str(secret, "value", self.label, where="client_secret.")
        secret_expires = from_unix(secret.get("expires_at"), "client_secret.expires_at", self.label)
        session_expiry = answer.get("expires_at")
        expires = (
            secret_expires
            if session_expiry in (None, 0)
            else from_unix(session_expiry, "expires_at", self.label)
        )
        model = _str_or(answer.get("model"), request.model)
        sdp_path = urlsplit(request.endpoint).path[: -len(BETA_SUFFIX)] + "/realtime"
        return MintedSession(
            id=require_str(answer, "id", self.label),
            model=model,
            voice=_str_or(answer.get("voice"), request.voice),
            expires_at=expires,
            client_secret=value,
            client_secret_expires_at=secret_expires,
            webrtc_url=replace_path(request.endpoint, sdp_path, "model=" + quote(model, safe="")),
        )


def _str_or(value: object, fallback: str) -> str:
    return value if isinstance(value, str) and value else fallback
