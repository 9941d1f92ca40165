"""The transcription dialect (`WS /v1/realtime?intent=transcription`): the caller's committed
audio comes back as `conversation.item.input_audio_transcription.delta` / `.completed` events,
and the session makes no responses.

The stub recognises no words: a transcript says how much audio it heard, and its `usage` is that
duration (OpenAI bills transcription by the ASR model's own rule).
"""

from __future__ import annotations

from realtime_gateway.stub import events
from realtime_gateway.stub.conversation import RealtimeConversation


def transcript_for(held_ms: int) -> str:
    return f"(heard {held_ms / 1000:.1f} s of audio)"


class TranscriptionSession(RealtimeConversation):
    kind = "transcription"

    def create_response(self, client_id: str | None) -> None:
        self._error(
            "Responses are not available in a transcription session.",
            "invalid_request",
            client_id,
        )

    def commit(self, item_id: str, held_ms: int) -> None:
        super().commit(item_id, held_ms)
        transcript = transcript_for(held_ms)
        self.line.emit(
            events.event(
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=transcript,
            )
        )
        self.line.emit(
            events.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=transcript,
                usage={"type": "duration", "seconds": held_ms / 1000},
            )
        )
