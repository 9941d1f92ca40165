"""What a call or a WebSocket session keeps by default: the latest events, and the first minutes
of audio (a long call must not grow the client's memory without bound)."""

from __future__ import annotations

DEFAULT_MAX_EVENTS = 1000
DEFAULT_MAX_AUDIO_SECONDS = 300.0  # 27.6 MB of int16 mono at 48 kHz; 14.4 MB at 24 kHz
