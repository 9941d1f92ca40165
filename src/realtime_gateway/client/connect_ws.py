"""`realtime-gateway connect --transport websocket`: one turn over the Realtime WebSocket.

Opens `<gateway>/v1/realtime?model=M` with the tenant key, waits for `session.created`, sends
`session.update` (the voice; turn detection off, since this flow takes its turn itself), streams
`--input` as `input_audio_buffer.append` in 20 ms frames at real time and commits it, then asks
for a response (after the `--prompt` message, if any). Events are printed as JSON lines as on
the WebRTC path (audio deltas with `delta_bytes` in place of their base64), and the reply's audio
is recorded: until `--seconds` of it have arrived, or `--seconds` plus a grace period have passed
since the request, or the server closed the session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

import numpy as np

from realtime_gateway.client.errors import UnexpectedResponseError
from realtime_gateway.client.websocket import (
    DEFAULT_TIMEOUT,
    PCM_FRAME_BYTES,
    PCM_RATE,
    RealtimeSession,
    open_session,
)
from realtime_gateway.media.audio import Samples, dbfs, read_wav
from realtime_gateway.media.resampling import resample

RECORD_GRACE = 2.0  # seconds past --seconds to wait for the reply's audio still in flight
FRAME_SECONDS = PCM_FRAME_BYTES / 2 / PCM_RATE


def load_pcm(path: str) -> bytes:
    """A WAV file as the session's input format: PCM16 24 kHz mono."""
    rate, samples = read_wav(path)
    return np.ascontiguousarray(resample(samples, rate, PCM_RATE), dtype="<i2").tobytes()


def session_update(voice: str) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": None}, "output": {"voice": voice}},
        },
    }


async def stream_input(session: RealtimeSession, pcm: bytes) -> bool:
    """Append `pcm` in 20 ms frames at real time; False if the session closed meanwhile."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index, offset in enumerate(range(0, len(pcm), PCM_FRAME_BYTES)):
        delay = start + index * FRAME_SECONDS - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if not await session.append_audio(pcm[offset : offset + PCM_FRAME_BYTES]):
            return False
    return True


async def _print_events(session: RealtimeSession) -> None:
    async for event in session.events():
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        sys.stdout.flush()


async def _record(session: RealtimeSession, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds + RECORD_GRACE
    while session.seconds_received < seconds and not session.closed.is_set():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.closed.wait(), min(0.02, remaining))


def _summary(session: RealtimeSession, recorded: Samples) -> str:
    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.2f} s"

    summary = (
        f"connected in {seconds(session.connected_after)}, "
        f"first audio after {seconds(session.first_audio_after)}, "
        f"recorded {recorded.size / PCM_RATE:.2f} s, "
        f"output level {dbfs(recorded):.1f} dBFS"
    )
    if session.closed_by_server:
        reason = f" {session.close_reason}" if session.close_reason else ""
        summary += f", closed by the server: {session.close_code}{reason}"
    return summary


async def run_websocket(
    args: argparse.Namespace, input_pcm: bytes | None, prompt: list[dict[str, Any]]
) -> Samples:
    """The flow once; the reply's audio as int16 mono 24 kHz (at most `--seconds` of it)."""
    async with open_session(
        args.gateway, args.api_key, args.model, max_audio_seconds=args.seconds
    ) as session:
        printer = asyncio.ensure_future(_print_events(session))
        try:
            try:
                await session.wait_for_event("session.created", DEFAULT_TIMEOUT)
            except (TimeoutError, ConnectionError) as error:
                raise UnexpectedResponseError(f"no session.created: {error}") from None
            sending = await session.send_event(session_update(args.voice))
            if sending and input_pcm:
                sending = await stream_input(session, input_pcm)
                sending = sending and await session.send_event(
                    {"type": "input_audio_buffer.commit"}
                )
            for event in prompt:
                sending = sending and await session.send_event(event)
            if sending:
                await _record(session, args.seconds)
            pcm = session.audio()[: int(round(args.seconds * PCM_RATE)) * 2]
            recorded = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        finally:
            await session.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(printer, 2.0)
        print(_summary(session, recorded), file=sys.stderr, flush=True)
        return recorded
