"""The stub's token accounting for `response.done`'s `usage`: a stated, deterministic rule.

OpenAI bills realtime audio by duration; the stub counts the same way, from what was actually
heard and spoken (not from the text it meant to say):

- input audio tokens: 10 per second of the caller's speech heard so far in the call (the model
  re-reads the whole conversation for every response, so this only grows);
- input text tokens: one per word of the conversation's text before the response (the caller's
  text messages and the earlier replies' transcripts);
- output audio tokens: 20 per second of this response's audio actually played (a cancelled
  response counts only what was played before it was cut);
- output text tokens: one per word of this response's transcript that was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INPUT_AUDIO_TOKENS_PER_SECOND = 10
OUTPUT_AUDIO_TOKENS_PER_SECOND = 20


@dataclass(frozen=True)
class ResponseUsage:
    heard_ms: int
    context_words: int
    spoken_ms: int
    transcript_words: int

    @property
    def input_audio_tokens(self) -> int:
        return self.heard_ms * INPUT_AUDIO_TOKENS_PER_SECOND // 1000

    @property
    def output_audio_tokens(self) -> int:
        return self.spoken_ms * OUTPUT_AUDIO_TOKENS_PER_SECOND // 1000

    def as_openai(self) -> dict[str, Any]:
        """OpenAI's `RealtimeResponseUsage` shape."""
        input_tokens = self.input_audio_tokens + self.context_words
        output_tokens = self.output_audio_tokens + self.transcript_words
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "cached_tokens": 0,
                "text_tokens": self.context_words,
                "audio_tokens": self.input_audio_tokens,
                "image_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": self.transcript_words,
                "audio_tokens": self.output_audio_tokens,
            },
        }


def word_count(text: str) -> int:
    return len(text.split())
