"""`python -m bench.json_codec`: the standard library's json against orjson and msgspec on the
mint's own payloads (the session answer, the GA request to the provider, a provider answer),
best of 5 x 20,000 in this process. orjson and msgspec are not dependencies: `.venv/bin/uv pip
install orjson msgspec` first. The figures decide whether a faster codec is worth a dependency
(docs/performance.md, "The standard library's json stays")."""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

SESSION_ANSWER: dict[str, Any] = {
    "session": {
        "id": "sess_0123456789abcdef01234567",
        "model": "gpt-realtime",
        "voice": "marin",
        "expires_at": "2026-11-27T00:30:00Z",
        "client_secret": {"value": "ek_" + "a" * 40, "expires_at": "2026-11-27T00:31:00Z"},
        "webrtc_url": "http://127.0.0.1:9000/v1/realtime/calls",
    }
}
PROVIDER_REQUEST: dict[str, Any] = {
    "session": {"type": "realtime", "model": "gpt-realtime", "audio": {"output": {"voice": "x"}}},
    "expires_after": {"anchor": "created_at", "seconds": 60},
}
PROVIDER_ANSWER = json.dumps(
    {
        "value": "ek_" + "b" * 40,
        "expires_at": 1795000000,
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_x",
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "You are a helpful assistant. " * 5,
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "turn_detection": {"type": "server_vad", "threshold": 0.5},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
            },
        },
    }
).encode()


def starlette_dumps(value: Any) -> bytes:
    """What Starlette's JSONResponse does."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


def best_us(call: Callable[[], object], number: int = 20_000) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def main() -> None:
    import msgspec
    import orjson

    encoder, decoder = msgspec.json.Encoder(), msgspec.json.Decoder()
    cases: dict[str, dict[str, Callable[[], object]]] = {
        "session_answer_encode": {
            "stdlib": lambda: starlette_dumps(SESSION_ANSWER),
            "orjson": lambda: orjson.dumps(SESSION_ANSWER),
            "msgspec": lambda: encoder.encode(SESSION_ANSWER),
        },
        "provider_request_encode": {
            "stdlib": lambda: json.dumps(PROVIDER_REQUEST).encode(),
            "orjson": lambda: orjson.dumps(PROVIDER_REQUEST),
            "msgspec": lambda: encoder.encode(PROVIDER_REQUEST),
        },
        "provider_answer_decode": {
            "stdlib": lambda: json.loads(PROVIDER_ANSWER),
            "orjson": lambda: orjson.loads(PROVIDER_ANSWER),
            "msgspec": lambda: decoder.decode(PROVIDER_ANSWER),
        },
    }
    totals: dict[str, float] = {}
    for case, codecs in cases.items():
        for codec, call in codecs.items():
            micros = best_us(call)
            totals[codec] = totals.get(codec, 0.0) + micros
            print(f"json_{case}_{codec}_us={micros:.2f}")
    for codec, micros in totals.items():
        print(f"json_per_mint_{codec}_us={micros:.2f}")


if __name__ == "__main__":
    main()
