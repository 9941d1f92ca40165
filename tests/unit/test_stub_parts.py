"""The stub's parts on their own: secrets expire, offers parse, the voice speaks, events fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from realtime_gateway.media.audio import rms
from realtime_gateway.media.tracks import FRAME_SAMPLES, SAMPLE_RATE
from realtime_gateway.stub import events
from realtime_gateway.stub.faults import FaultSwitch, openai_error
from realtime_gateway.stub.forms import OfferError, parse_offer
from realtime_gateway.stub.secrets import SecretStore
from realtime_gateway.stub.sessions import merge_session
from realtime_gateway.stub.usage import ResponseUsage
from realtime_gateway.stub.voice import SpeakingTrack, synthesize
from realtime_gateway.stub.ws_line import pcm24

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_secret_works_until_its_expiry_then_never_again() -> None:
    clock = FakeClock()
    store = SecretStore(clock)
    minted = store.mint(ttl_seconds=10, model="m", voice="v")
    assert minted.value.startswith("ek_") and len(minted.value) > 20
    clock.now += 9.9
    assert store.lookup(minted.value)[1] == "ok"
    clock.now += 0.1
    assert store.lookup(minted.value) == (None, "expired")
    assert store.lookup(minted.value) == (None, "unknown")
    assert store.lookup("ek_nope") == (None, "unknown")


def test_secrets_are_unique() -> None:
    store = SecretStore(FakeClock())
    values = {store.mint(ttl_seconds=60, model="m", voice="v").value for _ in range(200)}
    assert len(values) == 200


def test_expired_secrets_are_forgotten_as_new_ones_are_minted() -> None:
    clock = FakeClock()
    store = SecretStore(clock)
    short = [store.mint(ttl_seconds=10, model="m", voice="v") for _ in range(50)]
    long = store.mint(ttl_seconds=600, model="m", voice="v")
    clock.now += 11
    store.mint(ttl_seconds=10, model="m", voice="v")
    assert len(store) == 2  # the long-lived secret and the newest one
    assert store.lookup(short[0].value) == (None, "unknown")
    assert store.lookup(long.value)[1] == "ok"


def test_raw_sdp_offer() -> None:
    assert parse_offer("application/sdp", SDP.encode()).sdp == SDP


def test_multipart_offer_as_the_sdk_sends_it() -> None:
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="sdp"\r\n'
        f"Content-Type: application/sdp\r\n\r\n{SDP}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="session"\r\n'
        'Content-Type: application/json\r\n\r\n{"type": "realtime", "model": "gpt-realtime"}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    offer = parse_offer(f"multipart/form-data; boundary={boundary}", body)
    assert offer.sdp.rstrip() == SDP.rstrip()
    assert offer.session == {"type": "realtime", "model": "gpt-realtime"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/sdp", b"hello"),
        ("application/sdp", b"v=0\r\ns=-\r\n"),  # no media section: nothing to answer
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
        ),
    ],
)
def test_bad_offers_are_refused(content_type: str, body: bytes) -> None:
    with pytest.raises(OfferError):
        parse_offer(content_type, body)


def test_openai_error_shape() -> None:
    body = openai_error(429)
    assert body == {
        "error": {
            "message": "Too Many Requests",
            "type": "requests",
            "code": "rate_limit_exceeded",
            "param": None,
        }
    }
    assert openai_error(401)["error"]["code"] == "invalid_api_key"


def test_fault_switch_validates_and_clears() -> None:
    faults = FaultSwitch()
    faults.set(status=500, delay=0.2, malformed=True)
    assert (faults.current.status, faults.current.delay, faults.current.malformed) == (
        500,
        0.2,
        True,
    )
    faults.clear()
    assert (
        faults.current.status is None and faults.current.delay == 0 and not faults.current.malformed
    )
    with pytest.raises(ValueError):
        faults.set(status=42)


@pytest.mark.parametrize("use_espeak", [True, False])
def test_voice_is_speech_level_and_cached(use_espeak: bool) -> None:
    text = "Hello from the unit test voice."
    first = synthesize("verse", text, use_espeak=use_espeak)
    assert first.dtype == np.int16 and first.size > SAMPLE_RATE  # more than a second of it
    assert rms(first) > 0.05
    # Speech has pauses and syllables: the level varies, unlike a steady tone.
    windows = first[: first.size // 960 * 960].reshape(-1, 960)
    levels = np.sqrt(np.mean((windows / 32768.0) ** 2, axis=1))
    assert levels.max() > 4 * max(np.percentile(levels, 10), 1e-4)
    assert synthesize("verse", text, use_espeak=use_espeak) is first


async def test_track_sends_speech_then_silence_in_20ms_frames() -> None:
    track = SpeakingTrack()
    speech = np.full(FRAME_SAMPLES * 2 + 100, 8000, dtype=np.int16)
    assert track.say(speech) == pytest.approx(speech.size / SAMPLE_RATE)
    frames = [await track.recv() for _ in range(5)]
    assert [f.samples for f in frames] == [FRAME_SAMPLES] * 5
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(5)]
    levels = [rms(f.to_ndarray()) for f in frames]
    assert levels[0] > 0.2 and levels[1] > 0.2 and 0 < levels[2] < 0.1
    assert levels[3] == levels[4] == 0.0
    assert not track.speaking
    track.stop()


def test_transcript_chunks_rejoin_and_events_are_json() -> None:
    text = "Hello there, how are you?"
    assert "".join(events.word_chunks(text)) == text
    item = events.assistant_item("item_1", "completed", text)
    usage = ResponseUsage(heard_ms=0, context_words=0, spoken_ms=0, transcript_words=5)
    done = events.response_done("resp_1", "verse", item, usage.as_openai())
    assert json.loads(json.dumps(done))["response"]["output"][0]["content"][0]["transcript"] == text
    cancelled = events.response_done("resp_1", "verse", item, usage.as_openai(), "turn_detected")
    assert cancelled["response"]["status"] == "cancelled"
    assert cancelled["response"]["status_details"]["reason"] == "turn_detected"
    assert events.session_created({"id": "sess_1"})["event_id"].startswith("event_")


def test_usage_follows_the_stated_rule() -> None:
    usage = ResponseUsage(heard_ms=2500, context_words=4, spoken_ms=3000, transcript_words=9)
    shaped = usage.as_openai()
    assert shaped["input_token_details"]["audio_tokens"] == 25  # 10 per second heard
    assert shaped["output_token_details"]["audio_tokens"] == 60  # 20 per second spoken
    assert shaped["input_tokens"] == 25 + 4 and shaped["output_tokens"] == 60 + 9
    assert shaped["total_tokens"] == 29 + 69
    more = ResponseUsage(heard_ms=5000, context_words=4, spoken_ms=3000, transcript_words=9)
    assert more.as_openai()["input_tokens"] > shaped["input_tokens"]


def test_session_update_merges_nested_and_keeps_identity() -> None:
    current = {
        "id": "sess_1",
        "model": "gpt-realtime",
        "instructions": "old",
        "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.5}}},
    }
    update = {
        "id": "sess_other",
        "model": "other",
        "instructions": "new",
        "audio": {"input": {"turn_detection": {"type": "semantic_vad", "threshold": 0.9}}},
    }
    merged = merge_session(current, update)
    assert merged["id"] == "sess_1" and merged["model"] == "gpt-realtime"
    assert merged["instructions"] == "new"
    detection = merged["audio"]["input"]["turn_detection"]
    assert detection == {"type": "semantic_vad", "threshold": 0.9}
    assert current["instructions"] == "old"  # the original is untouched


def test_websocket_speech_is_24k_pcm_of_the_same_length_and_level() -> None:
    speech = synthesize("verse", "Twenty four kilohertz, please.", use_espeak=False)
    pcm = np.frombuffer(pcm24(speech), dtype="<i2")
    assert pcm.size == speech.size // 2  # half the samples, the same duration at 24 kHz
    assert rms(pcm) == pytest.approx(rms(speech), rel=0.05)  # the voice is far below 12 kHz
