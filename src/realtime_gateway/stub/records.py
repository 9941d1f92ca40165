"""`CallRecord`: what a test (or `GET /_stub/calls`) can see about one call, live or ended; a
phone call's record also carries its `SipDetails`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SipDetails:
    """A phone call as OpenAI's side saw it: who called whom, its webhook, how it was answered.

    `outcome` is `ringing` until the app answers: then `accepted` (`session` is the body it
    accepted with), `rejected` (`status_code` is the SIP status), `hung_up` (while ringing), or
    `unanswered` (nobody answered within the ring time); an accepted call that is transferred
    becomes `referred` (`refer_target`). Why the call ended is the record's `end_reason`.
    """

    to_number: str
    from_number: str
    sip_headers: list[dict[str, str]]
    speak: str
    event_type: str  # `realtime.call.incoming` or `live.transport.incoming`
    event_id: str
    webhook_id: str  # the same on every delivery attempt
    # One entry per delivery attempt: {"attempt", "status"} or {"attempt", "error"}.
    deliveries: list[dict[str, int | str]] = field(default_factory=list)
    delivered: bool = False  # an attempt got a 2xx
    outcome: str = "ringing"
    status_code: int | None = None
    refer_target: str | None = None
    session: dict[str, Any] | None = None


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
    sip: SipDetails | None = None  # phone calls only

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
