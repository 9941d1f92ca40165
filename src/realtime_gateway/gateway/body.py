"""The `/realtime_session` request body: parsed and checked by hand, so every refusal is a 400
whose message names the field (FastAPI's 422 `{"detail": ...}` never reaches a caller)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from realtime_gateway.gateway.allowlist import AllowList, EndpointRejected
from realtime_gateway.gateway.errors import InvalidRequest

MODEL_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
VOICE_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,32}")
FIELDS = ("model", "voice", "endpoint")


class SessionRequestSchema(BaseModel):
    """For the OpenAPI document only; `parse_session_request` is what enforces it."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(pattern=f"^{MODEL_PATTERN.pattern}$", min_length=1, max_length=64)
    voice: str = Field(pattern=f"^{VOICE_PATTERN.pattern}$", min_length=1, max_length=32)
    endpoint: str | None = Field(default=None, description="must be in allowed_endpoints")


@dataclass(frozen=True)
class SessionRequest:
    model: str
    voice: str
    endpoint: str  # normalised and allowed


@dataclass(frozen=True)
class RequestRules:
    allow_list: AllowList
    default_endpoint: str
    allowed_models: frozenset[str]
    allowed_voices: frozenset[str]


def parse_session_request(raw: bytes, rules: RequestRules) -> SessionRequest:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, huge ints
        raise InvalidRequest("body is not valid JSON") from error
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    unknown = sorted(str(key) for key in body if key not in FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field '{_printable(unknown[0])}'")
    model = _identifier(body, "model", MODEL_PATTERN, 64, rules.allowed_models)
    voice = _identifier(body, "voice", VOICE_PATTERN, 32, rules.allowed_voices)
    endpoint = body.get("endpoint")
    if endpoint is None:
        return SessionRequest(model, voice, rules.default_endpoint)
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidRequest("endpoint must be a non-empty URL string")
    try:
        return SessionRequest(model, voice, rules.allow_list.resolve(endpoint))
    except EndpointRejected as error:
        raise InvalidRequest(str(error)) from error


def _identifier(
    body: dict[str, object],
    name: str,
    pattern: re.Pattern[str],
    limit: int,
    allowed: frozenset[str],
) -> str:
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"{name} is required")
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRequest(f"{name} must be 1..{limit} characters of A-Z a-z 0-9 . _ -")
    if allowed and value not in allowed:
        raise InvalidRequest(f"{name} '{value}' is not allowed here")
    return value


def _printable(name: str) -> str:
    """Field names are echoed to the caller: keep them short and free of control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name)
    return cleaned[:40] + ("..." if len(cleaned) > 40 else "")
