"""`CallRecord`: what a test (or `GET /_stub/calls`) can see about one call, live or ended."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CallRecord:
    """What a test can check about one call; written by the stub's loop, read by tests."""

    call_id: str
    model: str
    voice: str
    kind: str = "realtime"  # or "live", or "transcription" (a WebSocket session's intent)
    transport: str = "webrtc"  # or "websocket": a session of `WS /v1/realtime?model=`
    connected: bool = False
    input_frames_received: int = 0
    input_rms_max: float = 0.0
    speech_started: int = 0
    speech_stopped: int = 0
    responses: int = 0
    cancelled_responses: int = 0
    output_speech_frames: int = 0
    client_events: list[str] = field(default_factory=list)
    sideband_events: list[str] = field(default_factory=list)
    sidebands_attached: int = 0
    ended: bool = False
    end_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
