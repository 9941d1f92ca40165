"""What a client may send the provider on a relayed session: the tenant's pins hold whatever a
client `session.update` says, and only allowed models and voices get through.

`initial_update(spec, policy, intent)` is the gateway's own `session.update`, sent before any
client event: the session the call token granted and the pinned instructions.
`check_client_event(event, rules)` answers the event to send on (pins applied), or the
`error` event the client gets instead (nothing is sent on then).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.policy import TenantPolicy


@dataclass(frozen=True)
class SessionRules:
    """One session's rules: the admitted model, the allowed voices, the tenant's pins."""

    model: str
    allowed_voices: frozenset[str]
    policy: TenantPolicy


def error_event(
    message: str, code: str, *, param: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """A server `error` event as OpenAI sends it."""
    return {
        "type": "error",
        "event_id": "event_rtg_" + secrets.token_hex(8),
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    }


def initial_update(spec: CallSpec, policy: TenantPolicy, intent: str | None) -> dict[str, Any]:
    """The gateway's first `session.update` (the token's voice and session, the tenant's
    instructions); empty when nothing is granted or pinned, and for transcription sessions."""
    if intent is not None:
        return {}
    session: dict[str, Any] = {**spec.session, "type": "realtime"}
    session.pop("model", None)
    if spec.voice:
        audio = dict(session.get("audio") or {})
        audio["output"] = {**(audio.get("output") or {}), "voice": spec.voice}
        session["audio"] = audio
    if policy.instructions is not None:
        session["instructions"] = policy.instructions
    if set(session) == {"type"}:
        return {}
    return {"type": "session.update", "event_id": "event_rtg_pins", "session": session}


def check_client_event(
    event: dict[str, Any], rules: SessionRules
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the event to send on, the error for the client): exactly one of them is set."""
    if event.get("type") != "session.update":
        return event, None
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    session = event.get("session")
    if not isinstance(session, dict):
        return None, error_event(
            "session.update needs a session object", "invalid_value", param="session",
            event_id=event_id,
        )  # fmt: skip
    model = session.get("model")
    if model is not None and model != rules.model:
        return None, error_event(
            f"this session's model is {rules.model}; it cannot be changed",
            "model_not_allowed",
            param="session.model",
            event_id=event_id,
        )
    for param, voice in _voices(session):
        if not isinstance(voice, str) or rules.allowed_voices and voice not in rules.allowed_voices:
            return None, error_event(
                f"voice {str(voice)[:32]!r} is not allowed here",
                "voice_not_allowed",
                param=param,
                event_id=event_id,
            )
    pinned = rules.policy.instructions
    if pinned is not None and session.get("instructions", pinned) != pinned:
        session = {**session, "instructions": pinned}
        event = {**event, "session": session}
    return event, None


def _voices(session: dict[str, Any]) -> list[tuple[str, object]]:
    """Where a session object names a voice: GA `audio.output.voice`, beta `voice`."""
    found: list[tuple[str, object]] = []
    if "voice" in session:
        found.append(("session.voice", session["voice"]))
    audio = session.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    if isinstance(output, dict) and "voice" in output:
        found.append(("session.audio.output.voice", output["voice"]))
    return found
