"""The session object a conversation runs with: how the stub configures a new one (Realtime or
transcription) and applies a client's `session.update` to it."""

from __future__ import annotations

import copy
from typing import Any

from realtime_gateway.stub import minting

# Parts of the session a client may not change.
_FIXED_SESSION_KEYS = ("id", "object", "type", "model", "expires_at")
TRANSCRIPTION_MODEL = "gpt-4o-transcribe"


def realtime_session(
    session_id: str, model: str, voice: str, expires_at: int, reply_on_speech: bool
) -> dict[str, Any]:
    """A GA `realtime` session as the stub starts it: server VAD on, answering the caller's
    turns on its own only when the stub is configured to (`StubConfig.reply_on_speech`)."""
    session = minting.ga_session(session_id, model, voice, expires_at)
    detection = turn_detection(session)
    if detection is not None:
        detection["create_response"] = reply_on_speech
    return session


def transcription_session(session_id: str, model: str | None, expires_at: int) -> dict[str, Any]:
    """A GA `transcription` session (`?intent=transcription`), shaped like
    `RealtimeTranscriptionSessionCreateResponse`."""
    return {
        "id": session_id,
        "object": "realtime.transcription_session",
        "type": "transcription",
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {
                    "model": model or TRANSCRIPTION_MODEL,
                    "language": None,
                    "prompt": "",
                },
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                },
            }
        },
        "include": None,
    }


def merge_session(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`current` with `update` applied (nested objects merged, other values replaced); the
    session's identity (`id`, `type`, `model`, ...) stays."""
    fixed = {key: update[key] for key in _FIXED_SESSION_KEYS if key in update}
    return _merged(current, {k: v for k, v in update.items() if k not in fixed})


def _merged(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(current)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def turn_detection(session: dict[str, Any]) -> dict[str, Any] | None:
    """The session's `audio.input.turn_detection` object, or None when VAD is off."""
    audio = session.get("audio")
    audio_input = audio.get("input") if isinstance(audio, dict) else None
    detection = audio_input.get("turn_detection") if isinstance(audio_input, dict) else None
    return detection if isinstance(detection, dict) else None
