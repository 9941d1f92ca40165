"""What a call's dialect (Realtime GA or Live) needs from its line, and what the line asks of it.

The line is the transport: a WebRTC peer (`peer.StubCall`: the data channel, RTP audio both ways)
or a Realtime WebSocket (`ws_line.WebSocketLine`: events as text frames, audio as base64 PCM16
inside them). It owns the caller's audio and voice activity and carries the outgoing speech. A
dialect owns the conversation: which events a client may send, what the server answers, and how
a call's end is reported.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from realtime_gateway.media.audio import Samples
from realtime_gateway.stub.records import CallRecord

GREETING = "Hello! This is the offline realtime stub. I can hear you, and I am speaking now."
# "stub" comes early: a caller who talks over the reply still sees whose words these are.
REPLY = "The offline stub here, answering you. Thank you for asking."
DELTA_INTERVAL = 0.05  # transcript deltas arrive faster than the audio plays, as a model's do
FRAME_MS = 20


class CallLine(Protocol):
    """The peer as a dialect sees it."""

    voice: str
    record: CallRecord
    # True where the provider holds the output audio buffer (WebRTC: `output_audio_buffer.*`);
    # over a WebSocket the client does, and those events do not exist.
    has_output_buffer: bool

    def emit(self, event: dict[str, Any]) -> None:
        """Send a server event to the client (data channel if the dialect allows it, or the
        WebSocket) and to every sideband."""

    def say(self, samples: Samples, *, response_id: str = "", item_id: str = "") -> float:
        """Queue speech (48 kHz mono) for this response's audio; seconds until it has played."""

    async def until_played(self) -> None:
        """Return once the speech queued so far has been sent."""

    def cut(self) -> bool:
        """Stop the speech now; True if any was playing."""

    def hear(self, pcm: bytes) -> None:
        """Audio the client appended (`input_audio_buffer.append`: PCM16 24 kHz mono)."""

    def take_input(self) -> int:
        """Empty the input audio buffer (a commit); the milliseconds of audio it held."""

    @property
    def spoken_frames(self) -> int:
        """20 ms frames of speech sent so far."""

    @property
    def heard_speech_ms(self) -> int:
        """Milliseconds of the caller's speech heard so far."""

    @property
    def session_ms(self) -> int:
        """Milliseconds since the call was answered."""

    async def synthesize(self, text: str) -> Samples: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def end(self, reason: str) -> None:
        """End the call (schedules the peer's close) with a dialect-level reason."""


class Dialect(Protocol):
    kind: str  # "realtime" or "live"

    def opened(self) -> None:
        """The caller's data channel opened: send the first event."""

    def attached(self) -> list[dict[str, Any]]:
        """The events a newly connected sideband gets first."""

    def client_event(self, event: dict[str, Any], from_sideband: bool) -> None: ...

    def frontend_allows(self, event: dict[str, Any]) -> bool:
        """May this server event go to the (untrusted) data channel?"""

    def speech_started(self, item_id: str, audio_start_ms: int) -> None: ...

    def speech_stopped(self, item_id: str, audio_end_ms: int, speech_ms: int) -> None: ...

    def greet(self) -> None: ...

    def end_reason(self, peer_reason: str) -> str:
        """The reason this dialect reports for a peer-level end (`hangup`, `max_duration`, ...)."""

    def closing(self, reason: str) -> None:
        """Last events before the call ends."""
