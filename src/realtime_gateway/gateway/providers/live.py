"""OpenAI's Live API (`gpt-live-*`): no ephemeral secrets, so a trusted server creates the
session with the caller's offer (`POST .../live/sessions` with `{session, transport}`); hang-up
at `.../live/sessions/{id}/hangup`, the sideband at `.../live/sessions/{id}/attach`, usage as the
cumulative `usage.seconds` of `session.usage.updated` and `session.closed`. Always brokered."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.providers.base import MintedSession, MintRequest
from realtime_gateway.gateway.providers.protocol import (
    CallControl,
    CreatedCall,
    MalformedCall,
    call_action,
    post_call,
)
from realtime_gateway.gateway.providers.realtime import api_root, is_plain_id
from realtime_gateway.gateway.providers.transport import Transport

LIVE_SUFFIX = "/live/sessions"
LIVE_MODEL_PREFIX = "gpt-live"


def live_session(spec: CallSpec, policy: TenantPolicy) -> dict[str, Any]:
    session: dict[str, Any] = {**spec.session, "model": spec.model}
    audio = dict(session.get("audio") or {})
    audio["output"] = {**(audio.get("output") or {}), "voice": spec.voice}
    session["audio"] = audio
    if policy.instructions is not None:
        session["instructions"] = policy.instructions
    if policy.data_channel is not None and policy.data_channel.as_session_config():
        session["client"] = {"data_channel": policy.data_channel.as_session_config()}
    return session


class Live:
    name = "openai-live"
    label = "OpenAI"
    mints = False  # no ephemeral secrets: every Live call is brokered

    def handles(self, endpoint: str, model: str) -> bool:
        """A Live model, or an endpoint on the Live API."""
        path = urlsplit(endpoint).path.rstrip("/")
        return model.startswith(LIVE_MODEL_PREFIX) or path.endswith(LIVE_SUFFIX)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
        raise ProviderError("the Live API has no ephemeral secrets; its calls are brokered")

    def calls_endpoint(self, endpoint: str) -> str:
        return api_root(endpoint) + LIVE_SUFFIX

    async def create_call(
        self, control: CallControl, spec: CallSpec, policy: TenantPolicy, sdp: str
    ) -> CreatedCall:
        request = {
            "session": live_session(spec, policy),
            "transport": {"type": "webrtc", "sdp": sdp},
        }
        headers = {**self.auth_headers(control.api_key), "Content-Type": "application/json"}
        reply = await post_call(
            control, spec.endpoint, headers, json.dumps(request).encode(), self.label
        )
        try:
            answer = json.loads(reply.body)
        except ValueError as error:
            raise MalformedCall(self.label, "not JSON") from error
        session = answer.get("session") if isinstance(answer, dict) else None
        transport = answer.get("transport") if isinstance(answer, dict) else None
        call_id = session.get("id") if isinstance(session, dict) else None
        sdp_answer = transport.get("sdp") if isinstance(transport, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise MalformedCall(self.label, "no session id")
        if not is_plain_id(call_id):
            raise MalformedCall(self.label, "the session id is not a plain identifier", call_id)
        if not isinstance(sdp_answer, str) or not sdp_answer.lstrip().startswith("v=0"):
            raise MalformedCall(self.label, "no transport.sdp", call_id)
        return CreatedCall(call_id, sdp_answer)

    async def hang_up(self, control: CallControl, record: CallRecord) -> None:
        headers = self.auth_headers(control.api_key)
        await call_action(control, record, "hangup", headers, {}, self.label, tolerate=(404,))

    async def refer(self, control: CallControl, record: CallRecord, target: str) -> None:
        headers = self.auth_headers(control.api_key)
        await call_action(control, record, "refer", headers, {"target_uri": target}, self.label)

    def sideband_url(self, record: CallRecord) -> str:
        parts = urlsplit(record.spec.endpoint)
        scheme = {"https": "wss", "http": "ws"}[parts.scheme]
        call = quote(record.provider_call_id, safe="")
        path = parts.path.rstrip("/") + f"/{call}/attach"
        return urlunsplit((scheme, parts.netloc, path, "", ""))

    def usage_of(self, event: dict[str, Any]) -> UsageReport | None:
        if event.get("type") not in ("session.usage.updated", "session.closed"):
            return None
        usage = event.get("usage")
        seconds = usage.get("seconds") if isinstance(usage, dict) else None
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            return None
        return UsageReport(audio_ms=int(seconds * 1000))

    def session_url(self, spec: CallSpec, intent: str | None) -> str | None:
        return None  # Live sessions are WebRTC (brokered), never a relayed WebSocket
