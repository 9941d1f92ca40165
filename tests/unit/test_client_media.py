"""The client's audio plumbing: resampling input, pacing 20 ms frames, converting received ones."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_gateway.media.audio import rms, write_wav
from realtime_gateway.media.resampling import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    FrameConverter,
    PacedAudioTrack,
    load_input,
    resample,
)


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 16000).astype(np.int16)


def test_resample_keeps_duration_and_pitch() -> None:
    out = resample(tone(24000, 1.0), 24000)
    assert out.size == SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / out.size - 440) < 2


def test_load_input_reads_any_rate_as_48k(tmp_path: Path) -> None:
    path = tmp_path / "say.wav"
    write_wav(path, 16000, tone(16000, 0.5))
    samples = load_input(path)
    assert samples.dtype == np.int16 and samples.size == SAMPLE_RATE // 2
    assert rms(samples) > 0.3


class FakeTime:
    """A monotonic clock that moves only when the track sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_paced_track_plays_input_then_silence_a_frame_every_20_ms() -> None:
    fake = FakeTime()
    track = PacedAudioTrack(tone(SAMPLE_RATE, 0.1), clock=fake.clock, sleep=fake.sleep)
    frames = [await track.recv() for _ in range(10)]  # five frames of tone, then silence
    assert all(
        frame.samples == FRAME_SAMPLES and frame.sample_rate == SAMPLE_RATE for frame in frames
    )
    levels = [rms(frame.to_ndarray().ravel()) for frame in frames]
    assert all(level > 0.3 for level in levels[:5])
    assert all(level == 0 for level in levels[5:])
    assert [frame.pts for frame in frames] == [i * FRAME_SAMPLES for i in range(10)]
    # The first frame at once, then each one 20 ms after the one before.
    assert fake.sleeps == pytest.approx([0.02] * 9)
    assert fake.now == pytest.approx(100.18)
    assert track.input_done
    track.stop()


async def test_a_late_reader_is_not_made_to_wait_and_the_pace_holds_after() -> None:
    fake = FakeTime()
    track = PacedAudioTrack(None, clock=fake.clock, sleep=fake.sleep)
    await track.recv()
    fake.now += 0.1  # the reader comes back 100 ms late: frames 2-5 were due already
    for _ in range(4):
        await track.recv()
    assert fake.sleeps == [0.0] * 4
    await track.recv()  # frame 6 is due 100 ms after the first: on time again
    assert fake.sleeps[-1] == pytest.approx(0.0)
    await track.recv()
    assert fake.sleeps[-1] == pytest.approx(0.02)
    track.stop()


def test_converter_makes_stereo_frames_mono_int16() -> None:
    mono = tone(SAMPLE_RATE, FRAME_SAMPLES / SAMPLE_RATE)
    stereo = np.repeat(mono, 2).reshape(1, -1)  # packed s16: L R L R ...
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = 0
    frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
    converter = FrameConverter()
    out = np.concatenate([converter.convert(frame), converter.convert(frame)])
    assert out.dtype == np.int16
    assert FRAME_SAMPLES <= out.size <= 2 * FRAME_SAMPLES
    assert abs(rms(out[-FRAME_SAMPLES:]) - rms(mono)) < 0.05
