"""Server events for the `oai-events` data channel, shaped like OpenAI's realtime events."""

from __future__ import annotations

from typing import Any

from realtime_gateway.stub.secrets import new_id


def _event(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "event_id": new_id("event_"), **fields}


def session_created(session: dict[str, Any]) -> dict[str, Any]:
    return _event("session.created", session=session)


def speech_started(item_id: str, audio_start_ms: int) -> dict[str, Any]:
    return _event(
        "input_audio_buffer.speech_started", item_id=item_id, audio_start_ms=audio_start_ms
    )


def speech_stopped(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return _event("input_audio_buffer.speech_stopped", item_id=item_id, audio_end_ms=audio_end_ms)


def _response(
    response_id: str, voice: str, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": None,
        "output": output,
        "conversation_id": "conv_stub",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice}},
        "usage": None,
        "metadata": None,
    }


def response_created(response_id: str, voice: str) -> dict[str, Any]:
    return _event("response.created", response=_response(response_id, voice, "in_progress", []))


def transcript_delta(response_id: str, item_id: str, delta: str) -> dict[str, Any]:
    return _event(
        "response.output_audio_transcript.delta",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        delta=delta,
    )


def transcript_done(response_id: str, item_id: str, transcript: str) -> dict[str, Any]:
    return _event(
        "response.output_audio_transcript.done",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        transcript=transcript,
    )


def response_done(response_id: str, item_id: str, voice: str, transcript: str) -> dict[str, Any]:
    item = {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": transcript}],
    }
    return _event("response.done", response=_response(response_id, voice, "completed", [item]))


def error(message: str, code: str | None = None) -> dict[str, Any]:
    return _event(
        "error",
        error={"type": "invalid_request_error", "code": code, "message": message, "param": None},
    )


def word_chunks(text: str) -> list[str]:
    """Split a transcript into the word-sized deltas a model streams (spaces kept)."""
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words) if word]
