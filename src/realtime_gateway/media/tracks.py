"""An outgoing aiortc audio track paced in real time: 20 ms s16 mono 48 kHz frames.

Subclasses say what each frame holds (`next_chunk`); pacing, timestamps and framing live here.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Awaitable, Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from realtime_gateway.media.audio import Samples

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class PacedTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`clock` (monotonic seconds) and `sleep` are seams for tests of the pacing."""
        super().__init__()
        self._start: float | None = None
        self._clock = clock
        self._sleep = sleep
        self.frames_sent = 0

    def next_chunk(self) -> Samples:
        """The next FRAME_SAMPLES int16 samples to send."""
        raise NotImplementedError

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = self._clock()
        else:
            due = self._start + self.frames_sent * FRAME_SAMPLES / SAMPLE_RATE
            await self._sleep(max(0.0, due - self._clock()))
        chunk = self.next_chunk()
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.frames_sent * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        self.frames_sent += 1
        return frame
