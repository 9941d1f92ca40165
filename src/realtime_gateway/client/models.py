"""The session the gateway mints, as the client returns it (the secret hidden from `repr`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ClientSecret:
    value: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    id: str
    model: str
    voice: str
    expires_at: datetime
    client_secret: ClientSecret
    webrtc_url: str


def parse_time(value: object) -> datetime:
    """ISO-8601 (with `Z`) or Unix seconds, as an aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("not a time")


def parse_session(body: object) -> Session:
    """The gateway's `{"session": {...}}` answer as a `Session`; ValueError when ill-formed."""
    if not isinstance(body, dict) or not isinstance(body.get("session"), dict):
        raise ValueError("no session object")
    raw: dict[str, Any] = body["session"]
    secret = raw.get("client_secret")
    if not isinstance(secret, dict) or not isinstance(secret.get("value"), str):
        raise ValueError("no client_secret")
    strings = {name: raw.get(name) for name in ("id", "model", "voice", "webrtc_url")}
    missing = [name for name, value in strings.items() if not isinstance(value, str) or not value]
    if missing or not secret["value"]:
        raise ValueError(f"missing {', '.join(missing) or 'client_secret.value'}")
    return Session(
        id=str(raw["id"]),
        model=str(raw["model"]),
        voice=str(raw["voice"]),
        expires_at=parse_time(raw.get("expires_at")),
        client_secret=ClientSecret(
            value=secret["value"], expires_at=parse_time(secret.get("expires_at"))
        ),
        webrtc_url=str(raw["webrtc_url"]),
    )
