"""Audio for the client's calls: an outgoing track paced at 48 kHz, 20 ms frames (a WAV file, then
silence), and the conversion of received frames to int16 mono 48 kHz samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

from realtime_gateway.media.audio import Samples, read_wav
from realtime_gateway.media.tracks import FRAME_SAMPLES, SAMPLE_RATE, PacedTrack


def resample_signal(values: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling of a mono signal, as float64; good enough for speech."""
    if rate == target or values.size == 0:
        return values.astype(np.float64)
    count = int(round(values.size * target / rate))
    positions = np.arange(count, dtype=np.float64) * (rate / target)
    resampled: np.ndarray = np.interp(positions, np.arange(values.size, dtype=np.float64), values)
    return resampled


def resample(samples: Samples, rate: int, target: int = SAMPLE_RATE) -> Samples:
    """`resample_signal` for int16 mono samples."""
    if rate == target or samples.size == 0:
        return samples.astype(np.int16)
    values = resample_signal(samples, rate, target)
    return np.clip(np.round(values), -32768, 32767).astype(np.int16)


def load_input(path: str | Path) -> Samples:
    """A WAV file as int16 mono 48 kHz samples, ready for `PacedAudioTrack`."""
    rate, samples = read_wav(path)
    return resample(samples, rate)


class PacedAudioTrack(PacedTrack):
    """Plays the given samples in real time, then silence."""

    def __init__(self, samples: Samples | None = None, **pacing: Any) -> None:
        super().__init__(**pacing)
        self._samples = samples if samples is not None else np.zeros(0, dtype=np.int16)
        self._sent = 0

    @property
    def input_done(self) -> bool:
        """True once every sample of the input has been handed to the sender."""
        return self._sent >= self._samples.size

    def next_chunk(self) -> Samples:
        chunk = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        piece = self._samples[self._sent : self._sent + FRAME_SAMPLES]
        chunk[: piece.size] = piece
        self._sent += piece.size
        return chunk


class FrameConverter:
    """Turns whatever aiortc decodes (s16 stereo 48 kHz from Opus) into int16 mono 48 kHz."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)

    def convert(self, frame: Any) -> Samples:
        pieces = [
            np.asarray(out.to_ndarray()).reshape(-1) for out in self._resampler.resample(frame)
        ]
        if not pieces:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(pieces).astype(np.int16)
