"""A call: the one record the gateway keeps of it, from admission to its end.

Every way of making a call (a brokered WebRTC offer, a WebSocket session, a phone call) makes
the same record; the call stores create, attach and end it, and every view of a call (the
tenant's `GET /realtime_calls/{id}`, the admin's list) is derived from it.

    admitted ──attach──▶ live ──end──▶ ended
        └──release──▶ (gone: no call was made, nothing is counted)

Times are Unix milliseconds by the store's clock (Redis `TIME` for the shared store).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

Transport = Literal["webrtc", "websocket", "sip"]
TRANSPORTS: tuple[Transport, ...] = ("webrtc", "websocket", "sip")
CallState = Literal["admitted", "live", "ended"]
EndedReason = Literal[
    "max_duration", "quota_exceeded", "caller_hangup", "provider_closed", "gateway_hangup"
]
ENDED_REASONS: tuple[EndedReason, ...] = (
    "max_duration",
    "quota_exceeded",
    "caller_hangup",
    "provider_closed",
    "gateway_hangup",
)


def new_call_id() -> str:
    """The gateway's own id for a call (never the provider's)."""
    return "call_" + secrets.token_hex(12)


def iso_from_ms(moment_ms: int) -> str:
    """`2025-10-09T18:00:00Z`: the gateway's times, to the second, in UTC."""
    moment = datetime.fromtimestamp(moment_ms // 1000, UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class CallSpec:
    """What a call is, fixed at admission: where the provider creates it and with what.

    `provider` names the provider module (`providers/registry.py`), `endpoint` is the
    provider URL calls are created at; `session` holds the session fields the caller asked for
    beyond model and voice (already checked against the tenant's policy); `meta` what the
    transport knows of the caller (a phone call's numbers)."""

    provider: str
    endpoint: str
    model: str
    voice: str
    session: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "provider": self.provider,
            "endpoint": self.endpoint,
            "model": self.model,
            "voice": self.voice,
        }
        if self.session:
            body["session"] = self.session
        if self.meta:
            body["meta"] = self.meta
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CallSpec:
        data = json.loads(text)
        return cls(
            provider=str(data["provider"]),
            endpoint=str(data["endpoint"]),
            model=str(data["model"]),
            voice=str(data["voice"]),
            session=dict(data.get("session") or {}),
            meta={str(k): str(v) for k, v in (data.get("meta") or {}).items()},
        )


@dataclass(frozen=True)
class CallRecord:
    """One call. `provider_call_id` is the provider's handle (for hang-up and the sideband) and
    never leaves the gateway; `token_digest` lets the call token that created the call read and
    end it; `holder` is the gateway process holding the call's sideband (or its WebSocket)."""

    call_id: str
    tenant: str
    state: CallState
    transport: Transport
    spec: CallSpec
    started_ms: int
    deadline_ms: int
    provider_call_id: str = field(default="", repr=False)
    token_digest: str = field(default="", repr=False)
    holder: str = ""
    audio_ms: int | None = None  # the provider's own figure, when it gives one
    tokens_in: int = 0
    tokens_out: int = 0
    hangup_ms: int | None = None  # when the gateway first asked the provider to end it
    ending_reason: EndedReason | None = None
    ended_ms: int | None = None
    ended_reason: EndedReason | None = None
    billed_ms: int | None = None  # what the ledger counted, once ended

    @property
    def live(self) -> bool:
        return self.state == "live"

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def voice(self) -> str:
        return self.spec.voice

    def used_ms(self, now_ms: int) -> int:
        """Audio the call has used: what the ledger counted once ended; while live, the
        provider's figure when it gave one, else the time since the start (up to the hang-up)."""
        if self.billed_ms is not None:
            return self.billed_ms
        if self.audio_ms is not None:
            return self.audio_ms
        until = now_ms if self.hangup_ms is None else min(now_ms, self.hangup_ms)
        return max(0, until - self.started_ms)

    def with_state(self, **changes: Any) -> CallRecord:
        return replace(self, **changes)

    def to_public(self, now_ms: int) -> dict[str, Any]:
        """What a caller may see: no provider handle, no token digest, no holder."""
        status = "pending" if self.state == "admitted" else self.state
        return {
            "id": self.call_id,
            "status": status,
            "transport": self.transport,
            "provider": self.spec.provider,
            "model": self.model,
            "voice": self.voice,
            "started_at": iso_from_ms(self.started_ms),
            "deadline": iso_from_ms(self.deadline_ms),
            "ended_at": iso_from_ms(self.ended_ms) if self.ended_ms is not None else None,
            "ended_reason": self.ended_reason,
            "usage": {
                "audio_seconds": round(self.used_ms(now_ms) / 1000, 3),
                "tokens": self.tokens_in + self.tokens_out,
            },
            **({"phone": dict(self.spec.meta)} if self.transport == "sip" else {}),
        }
