"""`realtime-gateway connect`: the machine flow headless. Provider events as JSON lines on stdout,
a one-line summary on stderr, the received audio as a 16-bit mono WAV file (48 kHz over WebRTC;
24 kHz, the wire's own rate, with `--transport websocket`: see `connect_ws.py`).

Exit status: 0 success, 1 other failure (unexpected answer, unreadable input, ...),
2 invalid_request, 3 unauthorized, 4 rate_limited, 5 provider_error, 6 limiter_unavailable,
7 sdp_refused, 8 ice_timeout, 9 gateway_unreachable, 10 too_many_calls, 11 quota_exceeded,
12 calls_unavailable. (argparse's own usage errors are also 2.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import numpy as np

from realtime_gateway.client import (
    DEFAULT_ICE_TIMEOUT,
    CallsUnavailableError,
    GatewayClient,
    GatewayClientError,
    GatewayUnreachableError,
    IceTimeoutError,
    InvalidRequestError,
    LimiterUnavailableError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    SdpRefusedError,
    TooManyCallsError,
    UnauthorizedError,
)
from realtime_gateway.client.call import Call
from realtime_gateway.client.connect_ws import load_pcm, run_websocket
from realtime_gateway.client.websocket import PCM_RATE
from realtime_gateway.media import ice
from realtime_gateway.media.audio import Samples, dbfs, write_wav
from realtime_gateway.media.resampling import load_input
from realtime_gateway.media.tracks import SAMPLE_RATE
from realtime_gateway.reasons import describe

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_CODES: dict[type[GatewayClientError], int] = {
    InvalidRequestError: 2,
    UnauthorizedError: 3,
    RateLimitedError: 4,
    ProviderError: 5,
    LimiterUnavailableError: 6,
    SdpRefusedError: 7,
    IceTimeoutError: 8,
    GatewayUnreachableError: 9,
    TooManyCallsError: 10,
    QuotaExceededError: 11,
    CallsUnavailableError: 12,
}
_PROG = "realtime-gateway connect"
RECORD_GRACE = 2.0  # seconds to wait past --seconds for the audio still in flight


def prompt_events(text: str | None) -> list[dict[str, Any]]:
    """A user text message (if any) and a request to answer: a real model speaks only when asked."""
    if not text:
        return [{"type": "response.create"}]
    return [
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        },
        {"type": "response.create"},
    ]


def exit_code_for(error: GatewayClientError) -> int:
    return EXIT_CODES.get(type(error), EXIT_OTHER)


def _fail(error_code: str, message: str) -> None:
    print(f"{_PROG}: {error_code}: {message}", file=sys.stderr, flush=True)


async def _print_events(call: Call) -> None:
    async for event in call.events():
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def _summary(call: Call, recorded: Samples) -> str:
    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.2f} s"

    summary = (
        f"connected in {seconds(call.connected_after)}, "
        f"first audio after {seconds(call.first_audio_after)}, "
        f"recorded {recorded.size / SAMPLE_RATE:.2f} s, "
        f"output level {dbfs(recorded):.1f} dBFS"
    )
    return summary + _ended(call.ended_view)


def _ended(view: dict[str, Any] | None) -> str:
    """A brokered call's end as the gateway recorded it: why, and the usage it counted."""
    if view is None:
        return ""
    found = view.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    audio = usage.get("audio_seconds")
    tokens = usage.get("tokens")
    audio_text = f"{audio:.1f} s audio" if isinstance(audio, int | float) else "audio unknown"
    tokens_text = f"{tokens} tokens" if isinstance(tokens, int) else "tokens unknown"
    return f", ended: {view.get('ended_reason')}, usage {audio_text}, {tokens_text}"


async def _record(call: Call, seconds: float) -> None:
    # Audio starts a little after ICE connects: wait for N seconds of it, not N of wall clock,
    # but never more than RECORD_GRACE beyond them.
    await asyncio.sleep(seconds)
    deadline = time.monotonic() + RECORD_GRACE
    while call.seconds_received < seconds and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def _run(args: argparse.Namespace, input_samples: Samples | None) -> Samples:
    async with (
        GatewayClient(args.gateway, args.api_key) as client,
        client.connect(
            args.model,
            args.voice,
            endpoint=args.endpoint,
            input_samples=input_samples,
            # cli.py may not offer --ice-timeout (yet); the client's default bound applies then.
            ice_timeout=getattr(args, "ice_timeout", None) or DEFAULT_ICE_TIMEOUT,
            max_audio_seconds=args.seconds,  # all it writes; later audio is counted, not kept
        ) as call,
    ):
        printer = asyncio.ensure_future(_print_events(call))
        try:
            for event in prompt_events(args.prompt):
                await call.send_event(event)
            await _record(call, args.seconds)
            recorded = call.audio()[: int(round(args.seconds * SAMPLE_RATE))]
        finally:
            await call.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(printer, 2.0)
        print(_summary(call, recorded), file=sys.stderr, flush=True)
        return recorded


def run_connect(args: argparse.Namespace) -> int:
    """Run the flow once; the exit status says how it went (see the module docstring)."""
    websocket = getattr(args, "transport", "webrtc") == "websocket"
    if args.seconds <= 0:
        _fail("invalid_arguments", "--seconds must be positive")
        return EXIT_OTHER
    if websocket and args.endpoint is not None:
        _fail("invalid_arguments", "--endpoint names a minting endpoint: webrtc only")
        return EXIT_OTHER
    if args.loopback_ice:
        ice.use_loopback_only()
    input_samples: Samples | None = None
    input_pcm: bytes | None = None
    if args.input is not None:
        try:
            if websocket:
                input_pcm = load_pcm(args.input)
            else:
                input_samples = load_input(args.input)
        except (OSError, ValueError, EOFError) as error:
            _fail("input_error", f"cannot read {args.input}: {describe(error)}")
            return EXIT_OTHER
    try:
        if websocket:
            rate = PCM_RATE
            recorded = asyncio.run(run_websocket(args, input_pcm, prompt_events(args.prompt)))
        else:
            rate = SAMPLE_RATE
            recorded = asyncio.run(_run(args, input_samples))
    except GatewayClientError as error:
        extra = ""
        if error.retry_after is not None:
            extra = f" (retry after {error.retry_after} s)"
        _fail(error.error_code, _redacted(f"{_status(error)}{error.message}{extra}", args.api_key))
        return exit_code_for(error)
    except KeyboardInterrupt:
        _fail("interrupted", "stopped before the end")
        return 130
    except Exception as error:  # a one-line reason, never a stack trace
        _fail("internal_error", _redacted(describe(error), args.api_key))
        return EXIT_OTHER
    try:
        write_wav(args.out, rate, np.asarray(recorded, dtype=np.int16))
    except OSError as error:
        _fail("output_error", f"cannot write {args.out}: {error.strerror or type(error).__name__}")
        return EXIT_OTHER
    return EXIT_OK


def _redacted(text: str, api_key: str) -> str:
    return text.replace(api_key, "[redacted]") if api_key else text


def _status(error: GatewayClientError) -> str:
    return f"HTTP {error.status}: " if error.status is not None else ""
