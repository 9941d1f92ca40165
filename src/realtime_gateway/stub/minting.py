"""The session objects the stub answers with, shaped like OpenAI's GA and beta APIs."""

from __future__ import annotations

from typing import Any

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "alloy"
GA_DEFAULT_TTL = 600  # OpenAI's default `expires_after` for client secrets
GA_MIN_TTL, GA_MAX_TTL = 10, 7200  # OpenAI refuses values outside this range
BETA_SECRET_TTL = 60  # "Currently, all tokens expire after one minute."
SESSION_SECONDS = 30 * 60  # the longest a realtime session may last

_PCM = {"type": "audio/pcm", "rate": 24000}


def ga_session(session_id: str, model: str, voice: str, expires_at: int) -> dict[str, Any]:
    """A `RealtimeSessionCreateResponse` (`type: realtime`) as GA minting returns it."""
    return {
        "id": session_id,
        "object": "realtime.session",
        "type": "realtime",
        "model": model,
        "expires_at": expires_at,
        "output_modalities": ["audio"],
        "instructions": "You are the offline realtime stub.",
        "audio": {
            "input": {
                "format": dict(_PCM),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": dict(_PCM), "voice": voice, "speed": 1.0},
        },
        "include": None,
        "max_output_tokens": "inf",
        "prompt": None,
        "tool_choice": "auto",
        "tools": [],
        "tracing": None,
        "truncation": "auto",
    }


def beta_session(
    session_id: str, model: str, voice: str, expires_at: int, secret: str, secret_expires_at: int
) -> dict[str, Any]:
    """The beta `POST /v1/realtime/sessions` answer, `client_secret` included."""
    return {
        "id": session_id,
        "object": "realtime.session",
        "model": model,
        "voice": voice,
        "expires_at": expires_at,
        "modalities": ["audio", "text"],
        "instructions": "You are the offline realtime stub.",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
        },
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "speed": 1.0,
        "tracing": None,
        "client_secret": {"value": secret, "expires_at": secret_expires_at},
    }
