"""The stub's Realtime conversation as a client sees it on the data channel: the full response
event sequence, one active response at a time, cancel and interruption, session.update."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from realtime_gateway.stub.dialect import REPLY
from tests.fixtures.stub import Caller, RunningStub, call_stub
from tests.integration.test_stub_webrtc import mint_ga

SILENCE = 0.005


async def connected(stub: RunningStub, tone_seconds: float = 0.0) -> Caller:
    caller = await call_stub(stub.calls_url, await mint_ga(stub), tone_seconds=tone_seconds)
    await asyncio.wait_for(caller.channel_open.wait(), 5)
    await caller.wait_for_event("session.created", timeout=5)
    return caller


def after(caller: Caller, event_type: str, nth: int = 1) -> list[dict[str, Any]]:
    """The events from the nth event of this type onwards."""
    index = [i for i, e in enumerate(caller.events) if e["type"] == event_type][nth - 1]
    return caller.events[index:]


async def test_response_sequence_announces_every_item_and_part(stub: RunningStub) -> None:
    caller = await connected(stub)
    try:
        caller.send({"type": "response.create"})
        await caller.wait_for_event("output_audio_buffer.stopped", timeout=20)
        types = [e["type"] for e in after(caller, "response.created")]
        expected = [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "output_audio_buffer.started",
            "response.output_audio_transcript.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
            "output_audio_buffer.stopped",
        ]
        assert [t for t in dict.fromkeys(types)] == expected
        item_ids = {e["item"]["id"] for e in caller.events if "item" in e}
        delta_ids = {
            e["item_id"]
            for e in caller.events
            if e["type"] == "response.output_audio_transcript.delta"
        }
        assert delta_ids <= item_ids, "deltas name an item that was announced"
    finally:
        await caller.close()


async def test_second_response_create_while_speaking_is_refused(stub: RunningStub) -> None:
    stub.state.config.greet = True
    caller = await connected(stub)
    try:
        await caller.wait_for_event("output_audio_buffer.started", timeout=10)
        caller.send({"type": "response.create", "event_id": "evt_2"})
        await caller.wait_for_event("error", timeout=5)
        error = next(e for e in caller.events if e["type"] == "error")["error"]
        assert error["code"] == "conversation_already_has_active_response"
        assert error["event_id"] == "evt_2"
        await caller.wait_for_event("output_audio_buffer.stopped", timeout=20)
        assert caller.event_types().count("response.created") == 1
        # Once the greeting is over, a response may be asked for again.
        caller.send({"type": "response.create"})
        await caller.wait_for_event("response.done", count=2, timeout=20)
    finally:
        await caller.close()


async def test_cancel_stops_audio_and_transcript(stub: RunningStub) -> None:
    caller = await connected(stub)
    try:
        caller.send({"type": "response.create"})
        await caller.wait_for_event("output_audio_buffer.started", timeout=10)
        caller.send({"type": "response.cancel"})
        caller.send({"type": "output_audio_buffer.clear"})
        await caller.wait_for_event("response.done", timeout=5)
        await caller.wait_for_event("output_audio_buffer.cleared", timeout=5)
        done = next(e for e in caller.events if e["type"] == "response.done")["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "client_cancelled"
        assert done["output"][0]["content"][0]["transcript"] != REPLY
        count = len(caller.events)
        quiet_from = time.monotonic() + 0.3  # audio already in flight may still arrive
        await asyncio.sleep(2.5)
        late = [e["type"] for e in caller.events[count:]]
        assert "response.output_audio_transcript.delta" not in late
        assert "output_audio_buffer.stopped" not in caller.event_types()
        assert caller.level_since(quiet_from) < SILENCE
        assert stub.state.calls[0].cancelled_responses == 1
    finally:
        await caller.close()


async def test_caller_speech_interrupts_the_reply_and_is_committed(stub: RunningStub) -> None:
    stub.state.config.greet = True
    caller = await connected(stub, tone_seconds=0.0)
    try:
        await caller.wait_for_event("output_audio_buffer.started", timeout=10)
        # The caller starts talking over the greeting: a fresh 0.6 s tone.
        caller.microphone.speak(0.6)
        await caller.wait_for_event("input_audio_buffer.committed", timeout=10)
        types = caller.event_types()
        assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
        done = next(e for e in caller.events if e["type"] == "response.done")["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "turn_detected"
        assert "output_audio_buffer.cleared" in types
        assert types.index("input_audio_buffer.speech_stopped") < types.index(
            "input_audio_buffer.committed"
        )
    finally:
        await caller.close()


async def test_session_update_is_applied_and_echoed(stub: RunningStub) -> None:
    caller = await connected(stub)
    try:
        caller.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": "Talk like a pirate.",
                    "audio": {
                        "input": {
                            "transcription": {"model": "gpt-4o-mini-transcribe"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
                        }
                    },
                },
            }
        )
        await caller.wait_for_event("session.updated", timeout=5)
        session = next(e for e in caller.events if e["type"] == "session.updated")["session"]
        assert session["instructions"] == "Talk like a pirate."
        audio_input = session["audio"]["input"]
        assert audio_input["transcription"] == {"model": "gpt-4o-mini-transcribe"}
        assert audio_input["turn_detection"]["silence_duration_ms"] == 800
        assert session["audio"]["output"]["voice"] == "verse"  # what was not sent is kept
    finally:
        await caller.close()


async def test_user_message_is_acknowledged_and_answered(stub: RunningStub) -> None:
    caller = await connected(stub)
    try:
        caller.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello"}],
                },
            }
        )
        await caller.wait_for_event("conversation.item.done", timeout=5)
        added = next(e for e in caller.events if e["type"] == "conversation.item.added")
        assert added["item"]["role"] == "user"
        assert added["item"]["content"] == [{"type": "input_text", "text": "hello"}]
        caller.send({"type": "response.create"})
        await caller.wait_for_event("response.done", timeout=20)
        done = next(e for e in caller.events if e["type"] == "response.done")["response"]
        assert "hello" in done["output"][0]["content"][0]["transcript"]
        assert done["usage"]["input_token_details"]["text_tokens"] == 1
    finally:
        await caller.close()


async def test_reply_after_the_callers_turn_follows_create_response(stub: RunningStub) -> None:
    stub.state.config.reply_on_speech = True
    caller = await connected(stub, tone_seconds=0.0)
    try:
        caller.microphone.speak(0.6)
        await caller.wait_for_event("response.done", timeout=20)
        types = caller.event_types()
        assert types.index("input_audio_buffer.committed") < types.index("response.created")
        # Turned off by session.update: the next turn is committed but not answered.
        caller.send(
            {
                "type": "session.update",
                "session": {"audio": {"input": {"turn_detection": {"create_response": False}}}},
            }
        )
        await caller.wait_for_event("session.updated", timeout=5)
        await caller.wait_for_event("output_audio_buffer.stopped", timeout=20)
        caller.microphone.speak(0.6)
        await caller.wait_for_event("input_audio_buffer.committed", count=2, timeout=10)
        await asyncio.sleep(1.0)
        assert caller.event_types().count("response.created") == 1
    finally:
        await caller.close()
