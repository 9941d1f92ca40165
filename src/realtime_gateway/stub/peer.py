"""One aiortc peer per call: hears the caller, speaks back, and talks `oai-events`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from realtime_gateway.media import ice
from realtime_gateway.media.audio import rms
from realtime_gateway.stub import events
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.voice import SpeakingTrack, synthesize

logger = logging.getLogger(__name__)

GREETING = "Hello! This is the offline realtime stub. I can hear you, and I am speaking now."
REPLY = "Here is another response from the offline stub. Thank you for asking."
SPEECH_THRESHOLD = 0.02  # input RMS (fraction of full scale) that counts as speech
SILENCE_TO_STOP_MS = 500  # like server_vad's silence_duration_ms
CHANNEL_WAIT = 2.0  # how long the greeting waits for the caller's data channel
DELTA_INTERVAL = 0.05  # transcript deltas arrive faster than the audio plays, as a model's do


@dataclass
class CallRecord:
    """What a test can check about one call; written by the stub's loop, read by tests."""

    call_id: str
    model: str
    voice: str
    connected: bool = False
    input_frames_received: int = 0
    input_rms_max: float = 0.0
    speech_started: int = 0
    speech_stopped: int = 0
    responses: int = 0
    output_speech_frames: int = 0
    client_events: list[str] = field(default_factory=list)
    ended: bool = False
    end_reason: str | None = None


class StubCall:
    def __init__(
        self,
        record: CallRecord,
        session: dict[str, Any],
        *,
        max_seconds: float,
        use_espeak: bool = True,
        reply_on_speech: bool = False,
        on_end: Callable[[StubCall], None] | None = None,
    ) -> None:
        self.record = record
        self.session = session
        self._max_seconds = max_seconds
        self._use_espeak = use_espeak
        self._reply_on_speech = reply_on_speech
        self._on_end = on_end
        # No ICE servers: the stub must never ask a public STUN server (aiortc's default).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = SpeakingTrack()
        self.channel: Any = None
        self._channel_ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._greeted = False

    # -- lifecycle -----------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Take the caller's offer and return the answer SDP (ICE gathered, no trickle)."""
        pc = self.pc
        pc.on("connectionstatechange", self._on_connection_state)
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        if ice.loopback_only_enabled():
            offer_sdp = ice.keep_loopback_candidates(offer_sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(self.track)
        await pc.setLocalDescription(await pc.createAnswer())
        self._spawn(self._end_after(self._max_seconds))
        sdp: str = pc.localDescription.sdp
        return sdp

    async def close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.track.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5.0)
        self.record.output_speech_frames = self.track.speech_frames_sent
        self.record.end_reason = reason
        self.record.ended = True
        logger.info("call %s ended: %s", self.record.call_id, reason)
        if self._on_end is not None:
            self._on_end(self)

    async def _end_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.close("max_duration")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("call %s task failed: %r", self.record.call_id, task.exception())

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.record.connected:
            self.record.connected = True
            self._spawn(self._greet())
        elif state in ("failed", "closed"):
            self._spawn(self.close("hangup" if state == "closed" else "peer_failed"))

    # -- the caller's side ---------------------------------------------------------------

    def _on_datachannel(self, channel: Any) -> None:
        if self.channel is not None:
            return
        self.channel = channel
        channel.on("message", self._on_message)
        self._send(events.session_created(self.session))
        self._channel_ready.set()

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self._spawn(self._listen(track))

    async def _listen(self, track: Any) -> None:
        record = self.record
        heard_ms = 0.0
        speaking = False
        quiet_ms = 0.0
        item_id = ""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            level = rms(frame.to_ndarray())
            record.input_frames_received += 1
            record.input_rms_max = max(record.input_rms_max, level)
            heard_ms += 1000.0 * frame.samples / frame.sample_rate
            if level >= SPEECH_THRESHOLD:
                quiet_ms = 0.0
                if not speaking:
                    speaking, item_id = True, new_id("item_")
                    record.speech_started += 1
                    self._send(events.speech_started(item_id, int(heard_ms)))
            elif speaking:
                quiet_ms += 1000.0 * frame.samples / frame.sample_rate
                if quiet_ms >= SILENCE_TO_STOP_MS:
                    speaking = False
                    record.speech_stopped += 1
                    self._send(events.speech_stopped(item_id, int(heard_ms)))
                    if self._reply_on_speech:
                        self._spawn(self.respond(REPLY))

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
            event_type = event["type"]
        except (ValueError, TypeError, KeyError):
            self._send(events.error("The event is not a JSON object with a type.", "invalid_json"))
            return
        self.record.client_events.append(str(event_type))
        if event_type == "response.create":
            self._spawn(self.respond(REPLY))
        elif event_type in ("response.cancel", "output_audio_buffer.clear"):
            self.track.interrupt()
        elif event_type == "session.update":
            self._send({**events.session_created(self.session), "type": "session.updated"})

    # -- speaking ------------------------------------------------------------------------

    async def _greet(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._channel_ready.wait(), CHANNEL_WAIT)
        if not self._greeted:
            self._greeted = True
            await self.respond(GREETING)

    async def respond(self, text: str) -> None:
        """One response: audio queued on the track, events streamed on the data channel."""
        voice = self.record.voice
        samples = await asyncio.to_thread(synthesize, voice, text, use_espeak=self._use_espeak)
        response_id, item_id = new_id("resp_"), new_id("item_")
        self.record.responses += 1
        self._send(events.response_created(response_id, voice))
        playing = self.track.say(samples)
        self._send(
            {
                "type": "output_audio_buffer.started",
                "event_id": new_id("event_"),
                "response_id": response_id,
            }
        )
        for chunk in events.word_chunks(text):
            self._send(events.transcript_delta(response_id, item_id, chunk))
            await asyncio.sleep(DELTA_INTERVAL)
        self._send(events.transcript_done(response_id, item_id, text))
        self._send(events.response_done(response_id, item_id, voice, text))
        await asyncio.sleep(max(0.0, playing - DELTA_INTERVAL * len(text.split())))
        self._send(
            {
                "type": "output_audio_buffer.stopped",
                "event_id": new_id("event_"),
                "response_id": response_id,
            }
        )

    def _send(self, event: dict[str, Any]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(event))
