"""Server events of the Realtime GA vocabulary (data channel and sideband), shaped like OpenAI's."""

from __future__ import annotations

from typing import Any

from realtime_gateway.stub.secrets import new_id

CONVERSATION_ID = "conv_stub"


def event(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "event_id": new_id("event_"), **fields}


def session_created(session: dict[str, Any]) -> dict[str, Any]:
    return event("session.created", session=session)


def session_updated(session: dict[str, Any]) -> dict[str, Any]:
    return event("session.updated", session=session)


def speech_started(item_id: str, audio_start_ms: int) -> dict[str, Any]:
    return event(
        "input_audio_buffer.speech_started", item_id=item_id, audio_start_ms=audio_start_ms
    )


def speech_stopped(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return event("input_audio_buffer.speech_stopped", item_id=item_id, audio_end_ms=audio_end_ms)


def committed(item_id: str, previous_item_id: str | None) -> dict[str, Any]:
    return event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous_item_id)


def audio_buffer(event_type: str, response_id: str | None) -> dict[str, Any]:
    """`output_audio_buffer.started` / `.stopped` / `.cleared`."""
    return event(f"output_audio_buffer.{event_type}", response_id=response_id)


def assistant_item(item_id: str, status: str, transcript: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": transcript}],
    }


def user_item(item_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": content,
    }


def item_added(item: dict[str, Any], previous_item_id: str | None) -> dict[str, Any]:
    return event("conversation.item.added", previous_item_id=previous_item_id, item=item)


def item_done(item: dict[str, Any], previous_item_id: str | None) -> dict[str, Any]:
    return event("conversation.item.done", previous_item_id=previous_item_id, item=item)


def output_item(event_type: str, response_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """`response.output_item.added` / `.done`."""
    return event(
        f"response.output_item.{event_type}", response_id=response_id, output_index=0, item=item
    )


def content_part(
    event_type: str, response_id: str, item_id: str, transcript: str | None
) -> dict[str, Any]:
    """`response.content_part.added` / `.done`."""
    return event(
        f"response.content_part.{event_type}",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        part={"type": "audio", "transcript": transcript},
    )


def output_audio_done(response_id: str, item_id: str) -> dict[str, Any]:
    return event(
        "response.output_audio.done",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
    )


def response_body(
    response_id: str,
    voice: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    status_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": status_details,
        "output": output,
        "conversation_id": CONVERSATION_ID,
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice}},
        "usage": usage,
        "metadata": None,
    }


def response_created(response_id: str, voice: str) -> dict[str, Any]:
    return event("response.created", response=response_body(response_id, voice, "in_progress", []))


def transcript_delta(response_id: str, item_id: str, delta: str) -> dict[str, Any]:
    return event(
        "response.output_audio_transcript.delta",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        delta=delta,
    )


def transcript_done(response_id: str, item_id: str, transcript: str) -> dict[str, Any]:
    return event(
        "response.output_audio_transcript.done",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        transcript=transcript,
    )


def response_done(
    response_id: str,
    voice: str,
    item: dict[str, Any],
    usage: dict[str, Any],
    cancelled_for: str | None = None,
) -> dict[str, Any]:
    """`response.done`: `completed`, or `cancelled` for `client_cancelled` / `turn_detected`."""
    if cancelled_for is None:
        body = response_body(response_id, voice, "completed", [item], usage)
    else:
        details = {"type": "cancelled", "reason": cancelled_for}
        body = response_body(response_id, voice, "cancelled", [item], usage, details)
    return event("response.done", response=body)


def error(message: str, code: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    return event(
        "error",
        error={
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": None,
            "event_id": event_id,
        },
    )


def word_chunks(text: str) -> list[str]:
    """Split a transcript into the word-sized deltas a model streams (spaces kept)."""
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words) if word]
