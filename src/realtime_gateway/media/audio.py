"""Small audio helpers shared by the stub and the client: levels and 16-bit WAV files."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]

SILENCE_DBFS = -120.0


def rms(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> float:
    """Root mean square of int16 samples, as a fraction of full scale (0.0 .. 1.0)."""
    if samples.size == 0:
        return 0.0
    as_float = samples.astype(np.float64)
    if samples.dtype == np.int16:
        as_float /= 32768.0
    return float(np.sqrt(np.mean(as_float * as_float)))


def dbfs(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> float:
    """Level in dB relative to full scale; silence is `SILENCE_DBFS`."""
    level = rms(samples)
    return SILENCE_DBFS if level <= 0 else max(SILENCE_DBFS, 20.0 * float(np.log10(level)))


def write_wav(path: str | Path, sample_rate: int, samples: Samples, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def read_wav(path: str | Path) -> tuple[int, Samples]:
    """Read a 16-bit PCM WAV file as mono int16 samples (channels are averaged)."""
    with wave.open(str(path), "rb") as source:
        if source.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        channels = source.getnchannels()
        rate = source.getframerate()
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return rate, data.astype(np.int16)
