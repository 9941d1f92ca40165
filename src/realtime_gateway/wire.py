"""What the gateway and the offline stub both read off OpenAI's wire, read one way: the
credential of an `Authorization: Bearer` header and the voice of a GA session object."""

from __future__ import annotations

from typing import Any


def bearer_credential(authorization: str | None) -> str | None:
    """`Bearer <credential>` -> the credential; None when missing or of another shape."""
    scheme, _, credential = (authorization or "").strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        return None
    return credential


def ga_session_voice(session: dict[str, Any]) -> str | None:
    """`session.audio.output.voice` of a GA session, when it is a non-empty string."""
    audio = session.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    voice = output.get("voice") if isinstance(output, dict) else None
    return voice if isinstance(voice, str) and voice else None
