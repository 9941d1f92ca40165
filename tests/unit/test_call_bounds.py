"""A long call keeps bounded state: the latest events, a count per type, the first of each type,
and the first `max_audio_seconds` of audio. Fed through the call's own receive paths, with
real `av` frames; no network."""

from __future__ import annotations

import fractions
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from realtime_gateway.client import GatewayClient
from realtime_gateway.client.call import Call
from realtime_gateway.media.tracks import FRAME_SAMPLES, SAMPLE_RATE


@asynccontextmanager
async def call_with(max_events: int = 50, max_audio_seconds: float = 1.0) -> AsyncIterator[Call]:
    async with GatewayClient("http://127.0.0.1:9", "rtg_unused") as client:
        call = Call(client, max_events=max_events, max_audio_seconds=max_audio_seconds)
        try:
            yield call
        finally:
            await call.close()


class FrameSource:
    """An audio track as aiortc hands it over: `count` 20 ms frames, then the end of stream."""

    kind = "audio"

    def __init__(self, count: int) -> None:
        self.count = count
        self.sent = 0

    async def recv(self) -> av.AudioFrame:
        if self.sent == self.count:
            raise MediaStreamError
        samples = np.full((1, FRAME_SAMPLES * 2), self.sent % 1000 + 1, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self.sent * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.sent += 1
        return frame


async def test_events_are_kept_bounded_and_counted() -> None:
    async with call_with(max_events=50) as call:
        call._on_message(json.dumps({"type": "session.created", "n": 0}))
        for n in range(1, 5000):
            call._on_message(json.dumps({"type": f"kind.{n % 7}", "n": n}))
        assert len(call.received_events) == 50
        assert [e["n"] for e in call.received_events] == list(range(4950, 5000))
        assert sum(call.event_counts.values()) == 5000
        assert call.event_counts["session.created"] == 1
        assert call.event_counts["kind.3"] == len([n for n in range(1, 5000) if n % 7 == 3])
        # Long gone from the latest events, the first of its type is still found.
        assert (await call.wait_for_event("session.created", timeout=1))["n"] == 0
        assert (await call.wait_for_event("kind.1", timeout=1))["n"] == 1
        # Nobody read `events()`: its queue holds the latest 50 and counts what it dropped.
        assert call.events_dropped == 4950


async def test_events_reach_a_reader_that_keeps_up() -> None:
    async with call_with(max_events=5) as call:
        seen = []
        for n in range(20):
            call._on_message(json.dumps({"type": "tick", "n": n}))
            seen.append((await anext(call.events()))["n"])
        assert seen == list(range(20))
        assert call.events_dropped == 0


async def test_audio_beyond_the_bound_is_counted_not_kept() -> None:
    async with call_with(max_audio_seconds=1.0) as call:
        await call._receive(FrameSource(count=250))  # 5 s of 20 ms frames
        assert call.seconds_received == 5.0
        audio = call.audio()
        assert audio.size == SAMPLE_RATE  # the first second, exactly
        # ... and it is the first second: frame k carries the value k + 1.
        assert audio[0] == 1 and audio[-1] == 50
