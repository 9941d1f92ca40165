"""The Live dialect (`gpt-live-*`): OpenAI's Live data-channel vocabulary over one stub call.

`session.started` first; the stub's speech as `session.output_transcript.delta` events (with
`start_ms`/`end_ms` on the session's timeline), the caller's heard speech as
`session.input_transcript.delta`, `session.usage.updated` with the cumulative whole seconds every
`USAGE_INTERVAL`, and `session.closed` with `reason` and final `usage` last. The frontend's
`client.data_channel` permissions apply to the data channel only; a sideband sees and may send
everything. The model answers when the caller stops speaking, or on `response.create`.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from realtime_gateway.stub import events
from realtime_gateway.stub.dialect import DELTA_INTERVAL, GREETING, REPLY, CallLine

USAGE_INTERVAL = 1.0  # seconds between `session.usage.updated` (OpenAI: at least every 2 s)
DEFAULT_VOICE = "marin"
CLIENT_EVENTS = frozenset({"session.update", "response.create", "session.close"})
# Set at startup and fixed afterwards (OpenAI's Live API refuses to change them).
_IMMUTABLE = frozenset({"id", "model", "expires_at", "status", "audio", "instructions", "client"})
# Peer-level endings as Live names them.
_REASONS = {
    "max_duration": "expired",
    "hangup": "connection_lost",
    "peer_failed": "connection_lost",
    "shutdown": "connection_lost",
    "bad_offer": "connection_lost",
    "transferred": "remote_hangup",  # a phone call referred elsewhere: the SIP leg hangs up
}


def _permission(value: Any) -> frozenset[str] | None:
    """None allows everything ("all" or omitted); else the allowed event types."""
    if not isinstance(value, list):
        return None
    types = (item.get("type") if isinstance(item, dict) else item for item in value)
    return frozenset(t for t in types if isinstance(t, str))


class LiveSession:
    kind = "live"

    def __init__(self, line: CallLine, resource: dict[str, Any]) -> None:
        self.line = line
        self.resource = copy.deepcopy(resource)
        client = resource.get("client")
        channel = client.get("data_channel") if isinstance(client, dict) else None
        channel = channel if isinstance(channel, dict) else {}
        self.allowed_client = _permission(channel.get("allowed_client_events"))
        self.allowed_server = _permission(channel.get("allowed_server_events"))
        self.active: asyncio.Task[None] | None = None
        self.closed_with: str | None = None
        line.spawn(self._report_usage())

    # -- usage ----------------------------------------------------------------------------------

    def usage(self) -> dict[str, Any]:
        seconds = self.line.session_ms // 1000
        return {"seconds": seconds, "active_seconds": seconds, "paused_seconds": 0}

    async def _report_usage(self) -> None:
        while True:
            await asyncio.sleep(USAGE_INTERVAL)
            self.line.emit(events.event("session.usage.updated", usage=self.usage()))

    # -- the dialect ----------------------------------------------------------------------------

    def opened(self) -> None:
        self.line.emit(events.event("session.started", session=self.resource))

    def attached(self) -> list[dict[str, Any]]:
        return [events.event("session.started", session=self.resource)]

    def frontend_allows(self, event: dict[str, Any]) -> bool:
        return self.allowed_server is None or event.get("type") in self.allowed_server

    def end_reason(self, peer_reason: str) -> str:
        return _REASONS.get(peer_reason, peer_reason)

    def closing(self, reason: str) -> None:
        if self.active is not None:
            self.active.cancel()
        self.line.cut()
        self.closed_with = reason
        self.line.emit(
            events.event("session.closed", reason=reason, session=self.resource, usage=self.usage())
        )

    def client_event(self, event: dict[str, Any], from_sideband: bool) -> None:
        event_type = event.get("type")
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if not from_sideband and self.allowed_client is not None:
            if event_type not in self.allowed_client:
                self._error(
                    f"Client event '{event_type}' is not allowed on this data channel.",
                    "client_event_not_allowed",
                    client_id,
                )
                return
        if event_type == "session.update":
            update = event.get("session")
            if isinstance(update, dict):
                for key, value in update.items():
                    if key not in _IMMUTABLE:
                        self.resource[key] = copy.deepcopy(value)
            self.line.emit(
                events.event("session.updated", session=self.resource, client_event_id=client_id)
            )
        elif event_type == "response.create":
            if self.active is not None:
                self._error(
                    "The session already has an active response.",
                    "conversation_already_has_active_response",
                    client_id,
                )
            else:
                self._speak(REPLY)
        elif event_type == "session.close":
            self.line.end("close_requested")
        else:
            self._error(f"Unknown client event '{event_type}'.", "unknown_event", client_id)

    def _error(self, message: str, code: str, client_id: str | None) -> None:
        self.line.emit(
            events.event(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "client_event_id": client_id,
                },
                client_event_id=client_id,
            )
        )

    # -- speech ---------------------------------------------------------------------------------

    def speech_started(self, item_id: str, audio_start_ms: int) -> None:
        if self.active is not None:  # the caller talks over the model: it stops
            self.active.cancel()
            self.active = None
            self.line.cut()

    def speech_stopped(self, item_id: str, audio_end_ms: int, speech_ms: int) -> None:
        end = self.line.session_ms
        self.line.emit(
            events.event(
                "session.input_transcript.delta",
                delta=f"(heard {speech_ms / 1000:.1f} s of speech)",
                start_ms=max(0, end - speech_ms),
                end_ms=end,
            )
        )
        if self.active is None:
            self._speak(REPLY)

    def greet(self) -> None:
        if self.active is None:
            self._speak(GREETING)

    def _speak(self, text: str) -> None:
        self.line.record.responses += 1
        task = asyncio.ensure_future(self._play(text))
        self.active = task

    async def _play(self, text: str) -> None:
        line = self.line
        samples = await line.synthesize(text)
        playing = line.say(samples)
        start = line.session_ms
        chunks = events.word_chunks(text)
        span = int(1000 * playing / max(1, len(chunks)))
        for index, chunk in enumerate(chunks):
            line.emit(
                events.event(
                    "session.output_transcript.delta",
                    delta=chunk,
                    start_ms=start + index * span,
                    end_ms=start + (index + 1) * span,
                )
            )
            await asyncio.sleep(DELTA_INTERVAL)
        await asyncio.sleep(max(0.0, playing - DELTA_INTERVAL * len(chunks)))
        if self.active is asyncio.current_task():
            self.active = None
