"""What a call token grants, and what the gateway remembers of a call it created."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from realtime_gateway.gateway.providers.base import iso_utc

CallWire = Literal["realtime", "live"]
CallStatus = Literal["live", "ended"]

# Why a call ended; the leash adds its own reasons through the same field.
ENDED_REASONS = frozenset(
    {"max_duration", "quota_exceeded", "caller_hangup", "provider_closed", "gateway_hangup"}
)


def iso_utc_from_unix(moment: float) -> str:
    return iso_utc(datetime.fromtimestamp(moment, UTC))


def new_call_id() -> str:
    """The gateway's own id for a call (never the provider's)."""
    return "call_" + secrets.token_hex(12)


@dataclass(frozen=True)
class CallGrant:
    """The minted request a call token stands for: who may create which call, until when."""

    tenant: str
    model: str
    voice: str
    endpoint: str  # the normalised, allow-listed endpoint the caller minted against
    expires_at: float  # unix seconds

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CallGrant:
        data = json.loads(text)
        return cls(
            tenant=str(data["tenant"]),
            model=str(data["model"]),
            voice=str(data["voice"]),
            endpoint=str(data["endpoint"]),
            expires_at=float(data["expires_at"]),
        )


@dataclass(frozen=True)
class CallRecord:
    """One brokered call. `provider_call_id` is the provider's handle (for hangup and the
    sideband) and never leaves the gateway; `token_digest` lets the call token that created the
    call read and end it."""

    call_id: str
    tenant: str
    provider_call_id: str = field(repr=False)
    wire: CallWire
    upstream_endpoint: str  # where calls are created (`.../realtime/calls`, `.../live/sessions`)
    model: str
    voice: str
    started_at: float
    deadline: float
    status: CallStatus = "live"
    ended_reason: str | None = None
    ended_at: float | None = None
    audio_seconds: float = 0.0
    tokens: int = 0
    token_digest: str = field(default="", repr=False)

    def ended(self, reason: str, at: float) -> CallRecord:
        return replace(self, status="ended", ended_reason=reason, ended_at=at)

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis hash (absent optionals are left out)."""
        return {key: str(value) for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> CallRecord:
        wire = fields["wire"]
        status = fields["status"]
        if wire not in ("realtime", "live") or status not in ("live", "ended"):
            raise ValueError("not a call record")
        ended_at = fields.get("ended_at")
        return cls(
            call_id=fields["call_id"],
            tenant=fields["tenant"],
            provider_call_id=fields["provider_call_id"],
            wire=wire,  # type: ignore[arg-type]  # checked above
            upstream_endpoint=fields["upstream_endpoint"],
            model=fields["model"],
            voice=fields["voice"],
            started_at=float(fields["started_at"]),
            deadline=float(fields["deadline"]),
            status=status,  # type: ignore[arg-type]  # checked above
            ended_reason=fields.get("ended_reason"),
            ended_at=float(ended_at) if ended_at is not None else None,
            audio_seconds=float(fields.get("audio_seconds", "0")),
            tokens=int(float(fields.get("tokens", "0"))),
            token_digest=fields.get("token_digest", ""),
        )

    def to_public(self) -> dict[str, Any]:
        """What a caller may see: no provider handle, no token digest."""
        return {
            "id": self.call_id,
            "status": self.status,
            "model": self.model,
            "voice": self.voice,
            "wire": self.wire,
            "started_at": iso_utc_from_unix(self.started_at),
            "deadline": iso_utc_from_unix(self.deadline),
            "ended_at": iso_utc_from_unix(self.ended_at) if self.ended_at is not None else None,
            "ended_reason": self.ended_reason,
            "usage": {"audio_seconds": round(self.audio_seconds, 3), "tokens": self.tokens},
        }
