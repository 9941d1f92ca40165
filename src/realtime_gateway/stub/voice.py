"""The stub's voice: espeak-ng speech (or a voice-like signal) as a paced 48 kHz audio track."""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
import threading
import wave
from collections import deque

import numpy as np

from realtime_gateway.media.audio import Samples
from realtime_gateway.media.resampling import resample_signal
from realtime_gateway.media.tracks import FRAME_SAMPLES, SAMPLE_RATE, PacedTrack

logger = logging.getLogger(__name__)

TARGET_RMS = 0.12  # loud enough to be heard, far from clipping

# OpenAI voice names -> espeak-ng variants of a similar register; unknown voices use "alloy"'s.
_ESPEAK_VOICES = {
    "alloy": "en-us+f3",
    "ash": "en-us+m3",
    "ballad": "en-gb+m4",
    "coral": "en-us+f2",
    "echo": "en-us+m1",
    "sage": "en-gb+f4",
    "shimmer": "en-us+f4",
    "verse": "en-us+m7",
    "marin": "en-us+f1",
    "cedar": "en-us+m2",
}

_cache: dict[tuple[str, str, bool], Samples] = {}
_cache_lock = threading.Lock()


def espeak_voice(voice: str) -> str:
    return _ESPEAK_VOICES.get(voice, _ESPEAK_VOICES["alloy"])


def synthesize(voice: str, text: str, *, use_espeak: bool = True) -> Samples:
    """Speech for `text` as 48 kHz mono int16, made once per process per (voice, text)."""
    key = (voice, text, use_espeak)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            cached = _make(voice, text, use_espeak)
            _cache[key] = cached
    return cached


async def speech(voice: str, text: str, *, use_espeak: bool = True) -> Samples:
    """`synthesize` for the event loop: made in a worker thread, but a cached phrase straight
    from the cache (a hundred sessions asking at once would otherwise queue on the thread pool
    and the GIL, and hold the loop up for milliseconds)."""
    with _cache_lock:
        cached = _cache.get((voice, text, use_espeak))
    if cached is not None:
        return cached
    return await asyncio.to_thread(synthesize, voice, text, use_espeak=use_espeak)


def _make(voice: str, text: str, use_espeak: bool) -> Samples:
    binary = shutil.which("espeak-ng") if use_espeak else None
    samples: np.ndarray | None = None
    if binary is not None:
        try:
            samples = _espeak(binary, espeak_voice(voice), text)
        except (OSError, subprocess.SubprocessError, wave.Error, ValueError) as error:
            logger.warning("espeak-ng failed (%s); using the synthesized voice", error)
    if samples is None or samples.size == 0:
        samples = _voice_like(text, seed=sum(map(ord, voice)))
    return _normalise(samples)


def _espeak(binary: str, espeak_name: str, text: str) -> np.ndarray:
    done = subprocess.run(
        [binary, "-v", espeak_name, "-s", "165", "--stdout", text],
        capture_output=True,
        timeout=20,
        check=True,
    )
    # Streamed to stdout, the WAV header's length fields are placeholders: read what is there.
    with wave.open(io.BytesIO(done.stdout), "rb") as source:
        rate = source.getframerate()
        channels = source.getnchannels()
        raw = source.readframes(source.getnframes())
    data = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float64)
    if channels > 1:
        data = data[: data.size // channels * channels].reshape(-1, channels).mean(axis=1)
    return resample_signal(data / 32768.0, rate, SAMPLE_RATE)


def _voice_like(text: str, seed: int) -> np.ndarray:
    """Voiced syllables: a gliding fundamental with formant-weighted harmonics, never silence."""
    rng = np.random.default_rng(seed)
    syllables = max(3, int(len(text.split()) * 1.4))
    pieces: list[np.ndarray] = []
    for _ in range(syllables):
        length = int(SAMPLE_RATE * rng.uniform(0.14, 0.26))
        t = np.arange(length) / SAMPLE_RATE
        f0 = rng.uniform(110, 190) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        formants = rng.uniform(0.3, 1.0, size=6)
        wave_ = sum(w * np.sin((k + 1) * phase) / (k + 1) for k, w in enumerate(formants))
        envelope = np.sin(np.pi * np.arange(length) / length) ** 0.7
        pieces.append(np.asarray(wave_) * envelope)
        pieces.append(np.zeros(int(SAMPLE_RATE * rng.uniform(0.03, 0.09))))
    return np.concatenate(pieces)


def _normalise(data: np.ndarray) -> Samples:
    level = float(np.sqrt(np.mean(data * data))) if data.size else 0.0
    if level > 0:
        data = data * (TARGET_RMS / level)
    return np.clip(data * 32767.0, -32768, 32767).astype(np.int16)


class SpeakingTrack(PacedTrack):
    """An outgoing audio track: queued speech, else silence, in 20 ms frames paced in real time."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[Samples] = deque()
        self._current: Samples | None = None
        self._offset = 0
        self.speech_frames_sent = 0

    def say(self, samples: Samples) -> float:
        """Queue speech; returns when it will have finished playing (seconds from now)."""
        pending = sum(chunk.size for chunk in self._queue)
        if self._current is not None:
            pending += self._current.size - self._offset
        self._queue.append(samples)
        return (pending + samples.size) / SAMPLE_RATE

    def interrupt(self) -> None:
        self._queue.clear()
        self._current = None
        self._offset = 0

    @property
    def speaking(self) -> bool:
        return self._current is not None or bool(self._queue)

    def next_chunk(self) -> Samples:
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES:
            if self._current is None:
                if not self._queue:
                    break
                self._current, self._offset = self._queue.popleft(), 0
            take = min(FRAME_SAMPLES - filled, self._current.size - self._offset)
            out[filled : filled + take] = self._current[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset >= self._current.size:
                self._current = None
        if filled:
            self.speech_frames_sent += 1
        return out
