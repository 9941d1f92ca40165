"""One aiortc peer per call: hears the caller, speaks back, and carries the call's events.

The peer owns WebRTC (the data channel, the caller's audio and its voice activity, the outgoing
speech) and fans every server event out to the data channel and to each attached sideband. What
the events say is the dialect's business (`conversation.py` for Realtime, `live_session.py` for
Live). A call whose media is not the stub's to carry (a SIP leg) runs with no peer at all:
`run_without_peer` hears a given track as the caller and plays the speech out to no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from realtime_gateway.media import ice
from realtime_gateway.media.audio import Samples
from realtime_gateway.stub import events
from realtime_gateway.stub.dialect import Dialect
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.vad import VoiceActivity
from realtime_gateway.stub.voice import SpeakingTrack, speech

__all__ = ["CallRecord", "Sideband", "StubCall"]

logger = logging.getLogger(__name__)

CHANNEL_WAIT = 2.0  # how long the greeting waits for the caller's data channel
PEER_CLOSE_SECONDS = 5.0  # a call's end waits at most this long for its peer to close

Sideband = asyncio.Queue[dict[str, Any] | None]


class StubCall:
    def __init__(
        self,
        record: CallRecord,
        make_dialect: Callable[[StubCall], Dialect],
        *,
        max_seconds: float,
        use_espeak: bool = True,
        greet: bool = False,
        on_end: Callable[[StubCall], None] | None = None,
        webrtc: bool = True,
    ) -> None:
        self.record = record
        self.voice = record.voice
        self._max_seconds = max_seconds
        self._use_espeak = use_espeak
        self._greet_on_connect = greet
        self._on_end = on_end
        # No ICE servers: the stub must never ask a public STUN server (aiortc's default).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[])) if webrtc else None
        self.track = SpeakingTrack()
        self.channel: Any = None
        self.answer_sdp = ""
        self._channel_ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sidebands: set[Sideband] = set()
        self._closed = False
        self._started = time.monotonic()
        self._speech_ends_at = 0.0
        self.ended = asyncio.Event()
        self.dialect = make_dialect(self)
        self._hearing = VoiceActivity(record, self.dialect)

    # -- what the dialect sees (dialect.CallLine) -------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        channel = self.channel
        if (
            channel is not None
            and channel.readyState == "open"
            and self.dialect.frontend_allows(event)
        ):
            channel.send(json.dumps(event))
        for queue in list(self._sidebands):
            queue.put_nowait(event)

    # The provider holds the output buffer on WebRTC: `output_audio_buffer.*` events exist.
    has_output_buffer = True

    def say(self, samples: Samples, *, response_id: str = "", item_id: str = "") -> float:
        seconds = self.track.say(samples)  # RTP carries no response ids
        self._speech_ends_at = time.monotonic() + seconds
        return seconds

    async def until_played(self) -> None:
        await asyncio.sleep(max(0.0, self._speech_ends_at - time.monotonic()))

    def hear(self, pcm: bytes) -> None:
        self._hearing.hear_pcm(pcm)

    def take_input(self) -> int:
        return self._hearing.take_buffer()

    def cut(self) -> bool:
        was_speaking = self.track.speaking
        self.track.interrupt()
        return was_speaking

    @property
    def spoken_frames(self) -> int:
        return self.track.speech_frames_sent

    @property
    def heard_speech_ms(self) -> int:
        return self._hearing.heard_speech_ms

    @property
    def session_ms(self) -> int:
        return int(1000 * (time.monotonic() - self._started))

    async def synthesize(self, text: str) -> Samples:
        return await speech(self.voice, text, use_espeak=self._use_espeak)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def end(self, reason: str) -> None:
        self.spawn(self.close(reason))

    # -- sidebands ------------------------------------------------------------------------------

    def attach(self) -> Sideband:
        """A queue of this call's server events from now on; None marks the call's end."""
        queue: Sideband = asyncio.Queue()
        for event in self.dialect.attached():
            queue.put_nowait(event)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._sidebands.add(queue)
            self.record.sidebands_attached += 1
        return queue

    def detach(self, queue: Sideband) -> None:
        self._sidebands.discard(queue)

    def sideband_event(self, event: dict[str, Any]) -> None:
        self.record.sideband_events.append(str(event.get("type")))
        self._dispatch(event, from_sideband=True)

    # -- lifecycle ------------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Take the caller's offer and return the answer SDP (ICE gathered, no trickle)."""
        pc = self.pc
        if pc is None:
            raise ValueError("this call has no WebRTC peer")
        pc.on("connectionstatechange", self._on_connection_state)
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        if ice.loopback_only_enabled():
            offer_sdp = ice.keep_loopback_candidates(offer_sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(self.track)
        await pc.setLocalDescription(await pc.createAnswer())
        self._started = time.monotonic()
        self.spawn(self._end_after(self._max_seconds))
        sdp: str = pc.localDescription.sdp
        self.answer_sdp = sdp
        return sdp

    def run_without_peer(self, caller: Any) -> None:
        """Start a call whose media is elsewhere (a SIP leg, held on OpenAI's side): `caller`
        (an audio track) is heard as a peer's track would be, and the speech plays out in real
        time to no one, so the voice activity, the responses and their usage are a peer's."""
        self._started = time.monotonic()
        self.record.connected = True
        self.spawn(self._listen(caller))
        self.spawn(self._play_out())
        self.spawn(self._end_after(self._max_seconds))
        self.dialect.opened()
        if self._greet_on_connect:
            self.dialect.greet()

    async def _play_out(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await self.track.recv()

    async def close(self, reason: str) -> None:
        """End the call: the dialect's last events, then the peer, then every sideband."""
        if self._closed:
            return
        self._closed = True
        reason = self.dialect.end_reason(reason)
        self.dialect.closing(reason)
        self.record.end_reason = reason
        # Give the data channel a moment to carry the last events out before it closes.
        if self.channel is not None and self.channel.readyState == "open":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain(), 1.0)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.track.stop()
        if self.pc is not None:
            await close_within(self.pc, PEER_CLOSE_SECONDS)
        for queue in list(self._sidebands):
            queue.put_nowait(None)
        self._sidebands.clear()
        self.record.output_speech_frames = self.track.speech_frames_sent
        self.record.ended = True
        self.ended.set()
        logger.info("call %s ended: %s", self.record.call_id, reason)
        if self._on_end is not None:
            self._on_end(self)

    async def _drain(self) -> None:
        while self.channel.bufferedAmount > 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # SCTP still has to carry what left the buffer

    async def _end_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.close("max_duration")

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("call %s task failed: %r", self.record.call_id, task.exception())

    def _on_connection_state(self) -> None:
        assert self.pc is not None  # registered by `answer`, which has a peer
        state = self.pc.connectionState
        if state == "connected" and not self.record.connected:
            self.record.connected = True
            if self._greet_on_connect:
                self.spawn(self._greet())
        elif state in ("failed", "closed"):
            self.spawn(self.close("hangup" if state == "closed" else "peer_failed"))

    async def _greet(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._channel_ready.wait(), CHANNEL_WAIT)
        self.dialect.greet()

    # -- the caller's side ----------------------------------------------------------------------

    def _on_datachannel(self, channel: Any) -> None:
        if self.channel is not None:
            return
        self.channel = channel
        channel.on("message", self._on_message)
        self.dialect.opened()
        self._channel_ready.set()

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self.spawn(self._listen(track))

    async def _listen(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._hearing.hear(frame.to_ndarray(), 1000.0 * frame.samples / frame.sample_rate)

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
            event_type = event["type"]
        except (ValueError, TypeError, KeyError):
            self.emit(events.error("The event is not a JSON object with a type.", "invalid_json"))
            return
        self.record.client_events.append(str(event_type))
        self._dispatch(event, from_sideband=False)

    def _dispatch(self, event: dict[str, Any], from_sideband: bool) -> None:
        self.dialect.client_event(event, from_sideband)


async def close_within(pc: RTCPeerConnection, seconds: float) -> None:
    """Close the peer, waiting at most `seconds`. Unlike `wait_for`, a close that outlives the
    bound is cancelled and left to unwind on its own, not waited for again (an aiortc close
    that ignores its cancellation must not hold the call's end, or a shutdown, for ever)."""
    closing = asyncio.ensure_future(pc.close())
    closing.add_done_callback(_retrieve)
    _, late = await asyncio.wait({closing}, timeout=seconds)
    for task in late:
        task.cancel()


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # a failed close is no news at the end of a call
