"""The Realtime GA dialect: one conversation, one active response at a time, OpenAI's events.

A response plays as OpenAI's does over WebRTC: `response.created`, the assistant item announced
(`response.output_item.added`, `conversation.item.added`, `response.content_part.added`),
`output_audio_buffer.started`, transcript deltas, and when the audio has played the `.done`
events, `response.done` (with `usage`, see `usage.py`) and `output_audio_buffer.stopped`.
`response.cancel`, `output_audio_buffer.clear` or the caller's speech (server VAD with
`interrupt_response`) cut it: audio and transcript stop, `response.done` says `cancelled`, and
`output_audio_buffer.cleared` replaces `stopped`. Over a WebSocket the audio itself comes as
`response.output_audio.delta` events and the `output_audio_buffer.*` events do not exist (the
client holds that buffer). The input audio buffer is the line's: `input_audio_buffer.append`
fills it, server VAD or `input_audio_buffer.commit` commits it, `.clear` empties it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
from dataclasses import dataclass, field
from typing import Any

from realtime_gateway.stub import events
from realtime_gateway.stub.dialect import DELTA_INTERVAL, FRAME_MS, GREETING, REPLY, CallLine
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.sessions import merge_session, turn_detection
from realtime_gateway.stub.usage import ResponseUsage, word_count
from realtime_gateway.wire import ga_session_voice

MIN_COMMIT_MS = 100  # OpenAI refuses to commit less audio than this


@dataclass
class ActiveResponse:
    response_id: str
    item_id: str
    text: str
    previous_item_id: str | None
    context_words: int
    frames_at_start: int | None = None
    sent: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class RealtimeConversation:
    kind = "realtime"

    def __init__(self, line: CallLine, session: dict[str, Any]) -> None:
        self.line = line
        self.session = copy.deepcopy(session)
        self.items: list[str] = []
        self.context_words = 0
        self.active: ActiveResponse | None = None
        self.last_user_text = ""

    # -- the session ----------------------------------------------------------------------------

    def _turn_detection(self) -> dict[str, Any] | None:
        return turn_detection(self.session)

    def opened(self) -> None:
        self.line.emit(events.session_created(self.session))

    def attached(self) -> list[dict[str, Any]]:
        return [events.session_created(self.session)]

    def frontend_allows(self, event: dict[str, Any]) -> bool:
        return True

    def end_reason(self, peer_reason: str) -> str:
        return peer_reason

    def closing(self, reason: str) -> None:
        if self.active is not None and self.active.task is not None:
            self.active.task.cancel()

    # -- client events --------------------------------------------------------------------------

    def client_event(self, event: dict[str, Any], from_sideband: bool) -> None:
        event_type = event.get("type")
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if event_type == "session.update":
            update = event.get("session")
            if not isinstance(update, dict):
                self._error("Missing required parameter: 'session'.", "missing_required_parameter")
                return
            self.session = merge_session(self.session, update)
            voice = ga_session_voice(self.session)
            if voice is not None:  # the next response speaks with it
                self.line.voice = self.line.record.voice = voice
            self.line.emit(events.session_updated(self.session))
        elif event_type == "conversation.item.create":
            self._add_user_item(event, client_id)
        elif event_type == "response.create":
            self.create_response(client_id)
        elif event_type == "response.cancel":
            if not self.cancel("client_cancelled"):
                self._error(
                    "Cancellation failed: no active response found.",
                    "response_cancel_not_active",
                    client_id,
                )
        elif event_type == "output_audio_buffer.clear" and self.line.has_output_buffer:
            self.cancel("client_cancelled", announce_cleared=False)
            self.line.emit(events.audio_buffer("cleared", None))
        elif event_type == "input_audio_buffer.append":
            self._append(event.get("audio"), client_id)
        elif event_type == "input_audio_buffer.commit":
            held = self.line.take_input()
            if held < MIN_COMMIT_MS:
                self._error(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    f"{MIN_COMMIT_MS}ms of audio, but buffer only has {held:.2f}ms of audio.",
                    "input_audio_buffer_commit_empty",
                    client_id,
                )
            else:
                self.commit(new_id("item_"), held)
        elif event_type == "input_audio_buffer.clear":
            self.line.take_input()
            self.line.emit(events.event("input_audio_buffer.cleared"))
        else:
            self._error(f"Invalid value: '{event_type}'.", "invalid_value", client_id)

    def create_response(self, client_id: str | None) -> None:
        """`response.create`: one active response at a time."""
        if self.active is not None:
            self._error(
                "Conversation already has an active response in progress: "
                f"{self.active.response_id}. Wait until the response is finished before "
                "creating a new one.",
                "conversation_already_has_active_response",
                client_id,
            )
            return
        self.start_response(self._reply_text())

    def _append(self, audio: Any, client_id: str | None) -> None:
        if not isinstance(audio, str):
            self._error("Missing required parameter: 'audio'.", "missing_required_parameter")
            return
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            self._error(
                "Invalid 'audio'. Expected base64-encoded audio bytes.", "invalid_value", client_id
            )
            return
        self.line.hear(pcm)

    def _error(self, message: str, code: str, client_id: str | None = None) -> None:
        self.line.emit(events.error(message, code, client_id))

    def _add_user_item(self, event: dict[str, Any], client_id: str | None) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            self._error("Missing required parameter: 'item'.", "missing_required_parameter")
            return
        raw_content = item.get("content")
        content: list[dict[str, Any]] = [
            part
            for part in (raw_content if isinstance(raw_content, list) else [])
            if isinstance(part, dict)
        ]
        raw_id = item.get("id")
        item_id = raw_id if isinstance(raw_id, str) else new_id("item_")
        role = item.get("role", "user")
        shaped = {**events.user_item(item_id, content), "role": role}
        previous = self.items[-1] if self.items else None
        self.items.append(item_id)
        texts = [str(part.get("text", "")) for part in content]
        self.context_words += sum(word_count(text) for text in texts)
        self.last_user_text = " ".join(texts).strip()
        self.line.emit(events.item_added(shaped, previous))
        self.line.emit(events.item_done(shaped, previous))

    def _reply_text(self) -> str:
        if self.last_user_text:
            heard, self.last_user_text = self.last_user_text, ""
            return f"You said: {heard}. {REPLY}"
        return REPLY

    # -- the caller's speech (server VAD) -------------------------------------------------------

    def speech_started(self, item_id: str, audio_start_ms: int) -> None:
        detection = self._turn_detection()
        if detection is None:
            return
        self.line.emit(events.speech_started(item_id, audio_start_ms))
        if detection.get("interrupt_response", True):
            self.cancel("turn_detected")

    def speech_stopped(self, item_id: str, audio_end_ms: int, speech_ms: int) -> None:
        detection = self._turn_detection()
        if detection is None:
            return
        self.line.emit(events.speech_stopped(item_id, audio_end_ms))
        self.commit(item_id, self.line.take_input())
        if detection.get("create_response") and self.active is None:
            self.start_response(REPLY)

    def commit(self, item_id: str, held_ms: int) -> None:
        """The input buffer (`held_ms` of audio) becomes the caller's next item."""
        previous = self.items[-1] if self.items else None
        self.line.emit(events.committed(item_id, previous))
        item = events.user_item(item_id, [{"type": "input_audio", "transcript": None}])
        self.items.append(item_id)
        self.line.emit(events.item_added(item, previous))
        self.line.emit(events.item_done(item, previous))

    def greet(self) -> None:
        if self.active is None:
            self.start_response(GREETING)

    # -- responses ------------------------------------------------------------------------------

    def start_response(self, text: str) -> None:
        active = ActiveResponse(
            response_id=new_id("resp_"),
            item_id=new_id("item_"),
            text=text,
            previous_item_id=self.items[-1] if self.items else None,
            context_words=self.context_words,
        )
        self.items.append(active.item_id)
        self.active = active
        self.line.record.responses += 1
        active.task = asyncio.ensure_future(self._play(active))

    async def _play(self, active: ActiveResponse) -> None:
        line, rid, iid = self.line, active.response_id, active.item_id
        line.emit(events.response_created(rid, line.voice))
        item = events.assistant_item(iid, "in_progress", None)
        line.emit(events.output_item("added", rid, item))
        line.emit(events.item_added(item, active.previous_item_id))
        line.emit(events.content_part("added", rid, iid, None))
        samples = await line.synthesize(active.text)
        active.frames_at_start = line.spoken_frames
        line.say(samples, response_id=rid, item_id=iid)
        if line.has_output_buffer:
            line.emit(events.audio_buffer("started", rid))
        for chunk in events.word_chunks(active.text):
            line.emit(events.transcript_delta(rid, iid, chunk))
            active.sent.append(chunk)
            await asyncio.sleep(DELTA_INTERVAL)
        await line.until_played()
        self._finish(active, None)
        if line.has_output_buffer:
            line.emit(events.audio_buffer("stopped", rid))

    def cancel(self, reason: str, announce_cleared: bool = True) -> bool:
        """Cut the active response (if any) short; True if there was one."""
        active = self.active
        if active is None:
            return False
        if active.task is not None:
            active.task.cancel()
        was_playing = self.line.cut()
        self.line.record.cancelled_responses += 1
        self._finish(active, reason)
        if was_playing and announce_cleared and self.line.has_output_buffer:
            self.line.emit(events.audio_buffer("cleared", active.response_id))
        return True

    def _finish(self, active: ActiveResponse, cancelled_for: str | None) -> None:
        line, rid, iid = self.line, active.response_id, active.item_id
        transcript = "".join(active.sent)
        status = "completed" if cancelled_for is None else "incomplete"
        item = events.assistant_item(iid, status, transcript)
        line.emit(events.output_audio_done(rid, iid))
        line.emit(events.transcript_done(rid, iid, transcript))
        line.emit(events.content_part("done", rid, iid, transcript))
        line.emit(events.output_item("done", rid, item))
        line.emit(events.item_done(item, active.previous_item_id))
        spoken = (
            0 if active.frames_at_start is None else line.spoken_frames - active.frames_at_start
        )
        usage = ResponseUsage(
            heard_ms=line.heard_speech_ms,
            context_words=active.context_words,
            spoken_ms=spoken * FRAME_MS,
            transcript_words=word_count(transcript),
        )
        line.emit(events.response_done(rid, line.voice, item, usage.as_openai(), cancelled_for))
        self.context_words += word_count(transcript)
        self.active = None
