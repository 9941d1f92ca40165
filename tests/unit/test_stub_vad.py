"""The stub's voice activity detector and input buffer, fed PCM16 24 kHz as a WebSocket session
appends it: frames cut the same whatever the pieces, turns found, commits counted."""

from __future__ import annotations

import numpy as np

from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.vad import VoiceActivity

RATE = 24_000


class Turns:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def speech_started(self, item_id: str, audio_start_ms: int) -> None:
        self.seen.append(("started", item_id, audio_start_ms))

    def speech_stopped(self, item_id: str, audio_end_ms: int, speech_ms: int) -> None:
        self.seen.append(("stopped", item_id, audio_end_ms))


def pcm(silence: float, tone: float, after: float) -> bytes:
    quiet = np.zeros(int(silence * RATE))
    t = np.arange(int(tone * RATE)) / RATE
    loud = np.sin(2 * np.pi * 300 * t) * 0.3 * 32767
    tail = np.zeros(int(after * RATE))
    return np.concatenate([quiet, loud, tail]).astype("<i2").tobytes()


def test_a_tone_between_silences_is_one_turn_on_the_audio_timeline() -> None:
    record, turns = CallRecord("sess_x", "m", "v"), Turns()
    vad = VoiceActivity(record, turns)
    vad.hear_pcm(pcm(0.2, 1.0, 0.6))
    kinds = [kind for kind, _, _ in turns.seen]
    assert kinds == ["started", "stopped"]
    (_, started_id, start_ms), (_, stopped_id, end_ms) = turns.seen
    assert started_id == stopped_id
    assert 200 <= start_ms <= 220  # where the tone begins, not when it arrived
    assert end_ms >= 1200 + 500  # after the silence that ends it
    assert record.input_frames_received == 90 and record.speech_started == 1
    assert 980 <= vad.heard_speech_ms <= 1020


def test_pieces_of_any_size_are_heard_as_the_same_frames() -> None:
    audio = pcm(0.1, 0.5, 0.6)
    whole_record, whole = CallRecord("a", "m", "v"), Turns()
    VoiceActivity(whole_record, whole).hear_pcm(audio)
    split_record, split = CallRecord("b", "m", "v"), Turns()
    vad = VoiceActivity(split_record, split)
    for at in range(0, len(audio), 333):  # odd sizes, even an odd number of bytes
        vad.hear_pcm(audio[at : at + 333])
    assert [(k, ms) for k, _, ms in split.seen] == [(k, ms) for k, _, ms in whole.seen]
    assert split_record.input_frames_received == whole_record.input_frames_received


def test_take_buffer_says_what_it_held_and_ends_the_turn() -> None:
    record, turns = CallRecord("sess_x", "m", "v"), Turns()
    vad = VoiceActivity(record, turns)
    vad.hear_pcm(pcm(0.0, 0.4, 0.0))
    assert vad.take_buffer() == 400
    assert vad.take_buffer() == 0
    vad.hear_pcm(pcm(0.6, 0.0, 0.0))  # silence after a committed turn: no speech_stopped
    assert [kind for kind, _, _ in turns.seen] == ["started"]
    assert vad.buffered_ms == 600
