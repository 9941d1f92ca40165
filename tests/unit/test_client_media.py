"""The client's audio plumbing: resampling input, pacing 20 ms frames, converting received ones."""

from __future__ import annotations

import fractions
import time
from pathlib import Path

import av
import numpy as np

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


async def test_paced_track_plays_input_then_silence_in_real_time() -> None:
    track = PacedAudioTrack(tone(SAMPLE_RATE, 0.1))  # five frames of tone
    started = time.monotonic()
    frames = [await track.recv() for _ in range(10)]
    elapsed = time.monotonic() - started
    assert all(
        frame.samples == FRAME_SAMPLES and frame.sample_rate == SAMPLE_RATE for frame in frames
    )
    levels = [rms(frame.to_ndarray().ravel()) for frame in frames]
    assert all(level > 0.3 for level in levels[:5])
    assert all(level == 0 for level in levels[5:])
    assert [frame.pts for frame in frames] == [i * FRAME_SAMPLES for i in range(10)]
    assert 0.17 <= elapsed < 0.5, "ten 20 ms frames are paced over about 180 ms"
    assert track.input_done
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
