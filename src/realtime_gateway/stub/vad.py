"""The caller's audio as the stub hears it, whatever carried it: a level-based voice activity
detector and the input audio buffer it fills.

A WebRTC call feeds it the decoded RTP frames; a WebSocket session the PCM16 24 kHz mono bytes
of `input_audio_buffer.append`, cut into 20 ms frames. Times are on the audio's own timeline
(milliseconds of audio heard), as OpenAI's `audio_start_ms` / `audio_end_ms` are.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from realtime_gateway.media.audio import Samples, rms
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.secrets import new_id

SPEECH_THRESHOLD = 0.02  # input RMS (fraction of full scale) that counts as speech
SILENCE_TO_STOP_MS = 500  # like server_vad's silence_duration_ms
PCM_RATE = 24_000  # the Realtime WebSocket's audio/pcm: 16-bit little-endian mono, 24 kHz
PCM_FRAME_BYTES = PCM_RATE // 50 * 2  # 20 ms


class SpeechListener(Protocol):
    """What hears about the caller's turns (a dialect)."""

    def speech_started(self, item_id: str, audio_start_ms: int) -> None: ...

    def speech_stopped(self, item_id: str, audio_end_ms: int, speech_ms: int) -> None: ...


class VoiceActivity:
    """Counts what it hears into the call's record and tells the listener when speech starts and
    stops; `buffered_ms` is the audio heard since the buffer was last committed or cleared."""

    def __init__(self, record: CallRecord, listener: SpeechListener) -> None:
        self._record = record
        self._listener = listener
        self._heard_ms = 0.0
        self._speech_total_ms = 0.0
        self._speaking = False
        self._quiet_ms = 0.0
        self._turn_ms = 0.0
        self._item_id = ""
        self._buffered_ms = 0.0
        self._pcm_rest = b""

    @property
    def heard_speech_ms(self) -> int:
        """Milliseconds of speech heard in the whole call."""
        return int(self._speech_total_ms)

    @property
    def buffered_ms(self) -> int:
        return int(self._buffered_ms)

    def take_buffer(self) -> int:
        """Empty the input buffer (a commit); the milliseconds of audio it held. A turn in
        progress ends with it, without a `speech_stopped` (as a manual commit does at OpenAI)."""
        held = int(self._buffered_ms)
        self._buffered_ms = 0.0
        self._speaking = False
        return held

    def hear_pcm(self, pcm: bytes) -> None:
        """Appended PCM16 24 kHz mono, in pieces of any size: heard 20 ms at a time."""
        data = self._pcm_rest + pcm
        whole = len(data) // PCM_FRAME_BYTES * PCM_FRAME_BYTES
        self._pcm_rest = data[whole:]
        samples = np.frombuffer(data[:whole], dtype="<i2")
        frame = PCM_FRAME_BYTES // 2
        for start in range(0, samples.size, frame):
            self.hear(samples[start : start + frame], 20.0)

    def hear(self, samples: Samples, frame_ms: float) -> None:
        """One frame of the caller's audio."""
        record = self._record
        level = rms(samples)
        record.input_frames_received += 1
        record.input_rms_max = max(record.input_rms_max, level)
        self._heard_ms += frame_ms
        self._buffered_ms += frame_ms
        if level >= SPEECH_THRESHOLD:
            self._quiet_ms = 0.0
            self._speech_total_ms += frame_ms
            self._turn_ms += frame_ms
            if not self._speaking:
                self._speaking, self._item_id, self._turn_ms = True, new_id("item_"), frame_ms
                record.speech_started += 1
                self._listener.speech_started(self._item_id, int(self._heard_ms))
        elif self._speaking:
            self._quiet_ms += frame_ms
            if self._quiet_ms >= SILENCE_TO_STOP_MS:
                # State first: the listener may commit (take_buffer) from inside the call.
                self._speaking = False
                record.speech_stopped += 1
                self._listener.speech_stopped(
                    self._item_id, int(self._heard_ms), int(self._turn_ms)
                )
