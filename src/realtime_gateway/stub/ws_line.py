"""A Realtime WebSocket session as a conversation's line (`dialect.CallLine`).

Server events go to an outbox the session's sender writes as text frames. The speech goes out as
`response.output_audio.delta` events, base64 PCM16 24 kHz mono in chunks of `chunk_ms`, paced at
about real time (`audio_speed` times it), as OpenAI streams it. Appended audio goes to the voice
activity detector, which fills the input buffer and finds the caller's turns.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from realtime_gateway.media.audio import Samples
from realtime_gateway.media.tracks import SAMPLE_RATE
from realtime_gateway.stub import events
from realtime_gateway.stub.dialect import Dialect
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.vad import PCM_RATE, VoiceActivity
from realtime_gateway.stub.voice import speech

logger = logging.getLogger(__name__)

FRAME_SAMPLES_24K = PCM_RATE // 50  # the 20 ms frame the usage rule counts in
Outbox = asyncio.Queue[dict[str, Any] | None]


def pcm24(samples: Samples) -> bytes:
    """48 kHz speech as PCM16 24 kHz: each pair of samples averaged (a low-pass that keeps the
    voice, whose energy is far below 12 kHz). Cheap enough for the event loop, where a linear
    interpolation of a whole reply took milliseconds, in lockstep across sessions."""
    assert SAMPLE_RATE == 2 * PCM_RATE
    even = samples[: samples.size // 2 * 2].astype(np.int32)
    return ((even[0::2] + even[1::2]) // 2).astype("<i2").tobytes()


def audio_delta(response_id: str, item_id: str, pcm: bytes) -> dict[str, Any]:
    return events.event(
        "response.output_audio.delta",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        delta=base64.b64encode(pcm).decode("ascii"),
    )


class WebSocketLine:
    # The client holds the output audio buffer: no `output_audio_buffer.*` events.
    has_output_buffer = False

    def __init__(
        self,
        record: CallRecord,
        make_dialect: Callable[[WebSocketLine], Dialect],
        *,
        use_espeak: bool = True,
        audio_speed: float = 1.0,
        chunk_ms: int = 20,
        max_pending: int = 2000,
    ) -> None:
        self.record = record
        self.voice = record.voice
        self.outbox: Outbox = asyncio.Queue()
        self._use_espeak = use_espeak
        self._speed = audio_speed
        self._chunk_bytes = PCM_RATE * chunk_ms // 1000 * 2
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._speaking: asyncio.Task[None] | None = None
        self._spoken_samples = 0
        self._started = time.monotonic()
        self.closed = False
        self.ending = asyncio.Event()  # the server side ends the session: `end_reason` says why
        self.end_reason = ""
        self.dialect = make_dialect(self)
        self._hearing = VoiceActivity(record, self.dialect)

    # -- what the dialect sees ------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        self.outbox.put_nowait(event)
        if self.outbox.qsize() > self._max_pending:  # the client stopped reading
            self.end("client_not_reading")

    def say(self, samples: Samples, *, response_id: str = "", item_id: str = "") -> float:
        """Stream this response's speech; one utterance at a time (the conversation has at
        most one active response, and cuts it before the next)."""
        self.cut()
        self._speaking = self._spawn(self._stream(pcm24(samples), response_id, item_id))
        return samples.size / SAMPLE_RATE / self._speed

    async def _stream(self, pcm: bytes, response_id: str, item_id: str) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        chunk_seconds = self._chunk_bytes / 2 / PCM_RATE / self._speed
        for index, offset in enumerate(range(0, len(pcm), self._chunk_bytes)):
            # Chunk k leaves when k chunks have "played": real time, without drift.
            delay = start + index * chunk_seconds - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            piece = pcm[offset : offset + self._chunk_bytes]
            self._spoken_samples += len(piece) // 2
            self.emit(audio_delta(response_id, item_id, piece))
        # The last chunk has played once its own length has passed too.
        await asyncio.sleep(max(0.0, start + len(pcm) / 2 / PCM_RATE / self._speed - loop.time()))

    async def until_played(self) -> None:
        speaking = self._speaking
        if speaking is not None and not speaking.done():
            await asyncio.wait({speaking})

    def cut(self) -> bool:
        speaking, self._speaking = self._speaking, None
        if speaking is None or speaking.done():
            return False
        speaking.cancel()
        return True

    def hear(self, pcm: bytes) -> None:
        self._hearing.hear_pcm(pcm)

    def take_input(self) -> int:
        return self._hearing.take_buffer()

    @property
    def spoken_frames(self) -> int:
        return -(-self._spoken_samples // FRAME_SAMPLES_24K)

    @property
    def heard_speech_ms(self) -> int:
        return self._hearing.heard_speech_ms

    @property
    def session_ms(self) -> int:
        return int(1000 * (time.monotonic() - self._started))

    async def synthesize(self, text: str) -> Samples:
        return await speech(self.voice, text, use_espeak=self._use_espeak)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._spawn(coro)

    def end(self, reason: str) -> None:
        """End the session from the server's side (the session runner closes the socket)."""
        if not self.ending.is_set():
            self.end_reason = reason
            self.ending.set()

    # -- the session's life ---------------------------------------------------------------------

    def end_after(self, seconds: float) -> None:
        """OpenAI's session limit: an `error` event naming it, then the server closes."""

        async def expire() -> None:
            await asyncio.sleep(seconds)
            self.emit(
                events.error(
                    f"Your session hit the maximum duration of {seconds:g} seconds.",
                    "session_expired",
                )
            )
            self.end("max_duration")

        self._spawn(expire())

    def close(self, reason: str) -> None:
        """The dialect's last events, then nothing more: `None` tells the sender to close."""
        if self.closed:
            return
        self.dialect.closing(reason)
        self.closed = True
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        if reason == "client_not_reading":  # what is queued will never be read: drop it
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.outbox.get_nowait()
        self.outbox.put_nowait(None)
        record = self.record
        record.end_reason = reason
        record.output_speech_frames = self.spoken_frames
        record.ended = True
        logger.info("websocket session %s ended: %s", record.call_id, reason)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("session %s task failed: %r", self.record.call_id, task.exception())
