"""The stub's Realtime WebSocket under load: N concurrent sessions against `realtime-gateway stub`,
each streaming 24 kHz audio both ways in 20 ms frames, the relay benchmark's baseline (ws.py).

Each session turns server VAD off, appends a 20 ms frame every 20 ms (a quiet tone), and asks for
a new response as soon as the last is done, so the stub speaks without pause. Figures, per N:

- `stub_ws_<N>_delta_late_ms_p50/p99`: how late each `response.output_audio.delta` arrives
  against real time: delta k of a response is due k x 20 ms after the earliest start any of its
  deltas showed (arrival less its place), so a late first delta does not shift the rest. The
  stub's pacing, plus this load generator's own delays (its loop lag is noted beside);
- `stub_ws_<N>_audio_realtime`: seconds of reply audio received per second of session (below 1
  by the stub's pause between a `response.create` and the first delta of its answer);
- `stub_ws_<N>_cpu_ms_per_session_s`: the stub's CPU per second of one session (`/proc`);
- `stub_ws_<N>_rss_kb_per_session`: the stub's VmRSS with N sessions open, less idle, over N.

`python -m bench.stub_ws [--quick] [--sessions 1,10,50,100] [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websockets

from bench.procs import HOST, PROVIDER_KEY, cpu_seconds, free_port, rss_kb, stub_service
from bench.report import Report

FRAME_SECONDS = 0.02
CHUNK_SECONDS = 0.02  # the stub's default `ws_audio_chunk_ms`


@dataclass
class SessionStats:
    lateness: list[float] = field(default_factory=list)  # seconds, per delta
    audio_bytes: int = 0
    responses: int = 0


def append_frame() -> str:
    """One `input_audio_buffer.append` of 20 ms of a quiet 200 Hz tone, encoded once."""
    t = np.arange(480) / 24_000
    pcm = (np.sin(2 * np.pi * 200 * t) * 1000).astype("<i2").tobytes()
    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )


async def one_session(url: str, seconds: float, opened: asyncio.Event, stats: SessionStats) -> None:
    headers = {"Authorization": f"Bearer {PROVIDER_KEY}"}
    frame = append_frame()
    async with websockets.connect(
        url, additional_headers=headers, compression=None, max_size=None
    ) as socket:
        json.loads(await asyncio.wait_for(socket.recv(), 30))  # session.created
        off = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await socket.send(json.dumps({"type": "session.update", "session": off}))
        await socket.send(json.dumps({"type": "response.create"}))
        opened.set()
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def send() -> None:
            start = loop.time()
            index = 0
            while loop.time() < end:
                index += 1
                await asyncio.sleep(max(0.0, start + index * FRAME_SECONDS - loop.time()))
                await socket.send(frame)

        async def receive() -> None:
            offsets: list[float] = []  # arrival of delta k, less k chunks: its start, as seen
            async for message in socket:
                now = loop.time()
                event = json.loads(message)
                kind = event["type"]
                if kind == "response.output_audio.delta":
                    offsets.append(now - len(offsets) * CHUNK_SECONDS)
                    stats.audio_bytes += len(event["delta"]) * 3 // 4
                elif kind == "response.done":
                    # Late against the earliest start the response showed: pacing, not set-up.
                    if offsets:
                        start = min(offsets)
                        stats.lateness.extend(offset - start for offset in offsets)
                    offsets = []
                    stats.responses += 1
                    await socket.send(json.dumps({"type": "response.create"}))

        receiver = asyncio.ensure_future(receive())
        await send()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


async def loop_lag(lags: list[float]) -> None:
    """How late this process's own loop wakes (a 10 ms sleep, over and over)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + 0.01
        await asyncio.sleep(0.01)
        lags.append(loop.time() - due)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


async def measure(report: Report, stub_pid: int, url: str, count: int, seconds: float) -> None:
    idle_rss = rss_kb(stub_pid)
    stats = [SessionStats() for _ in range(count)]
    opened = [asyncio.Event() for _ in range(count)]
    tasks = [
        asyncio.ensure_future(one_session(url, seconds, opened[i], stats[i])) for i in range(count)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 60)
    cpu_before, wall_before = cpu_seconds(stub_pid), time.monotonic()
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    lags: list[float] = []
    lag = asyncio.ensure_future(loop_lag(lags))
    await asyncio.sleep(seconds / 2)
    open_rss = rss_kb(stub_pid)
    await asyncio.gather(*tasks)
    lag.cancel()
    wall = time.monotonic() - wall_before
    cpu = cpu_seconds(stub_pid) - cpu_before
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    own = (own_after.ru_utime - own_before.ru_utime) + (own_after.ru_stime - own_before.ru_stime)
    late = sorted(value for s in stats for value in s.lateness)
    if not late:
        report.skip(f"stub_ws_{count}", "no audio deltas arrived")
        return
    name = f"stub_ws_{count}"
    report.add(f"{name}_delta_late_ms_p50", 1000 * statistics.median(late))
    report.add(
        f"{name}_delta_late_ms_p99",
        1000 * p99(late),
        note=f"this load generator's own loop lag p99 {1000 * p99(lags):.1f} ms",
    )
    audio_seconds = sum(s.audio_bytes for s in stats) / 2 / 24_000
    report.add(f"{name}_audio_realtime", audio_seconds / (count * seconds))
    report.add(
        f"{name}_cpu_ms_per_session_s",
        1000 * cpu / (count * wall),
        note=f"stub {cpu / wall:.2f} cores; this load generator {own / wall:.2f}",
    )
    report.add(f"{name}_rss_kb_per_session", (open_rss - idle_rss) / count)


def run_stub_ws(report: Report, sessions: list[int], seconds: float, workdir: Path) -> None:
    port = free_port()
    stub = stub_service(port)
    stub.start(workdir)
    url = f"ws://{HOST}:{port}/v1/realtime?model=gpt-realtime"
    try:
        for count in sessions:
            asyncio.run(measure(report, stub.pid, url, count, seconds))
    finally:
        stub.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stub_ws", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 and 10 sessions, 4 s each")
    parser.add_argument("--sessions", default="1,10,50,100", help="session counts, in order")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per count")
    args = parser.parse_args()
    sessions = [1, 10] if args.quick else [int(n) for n in args.sessions.split(",")]
    seconds = 4.0 if args.quick else args.seconds
    report = Report()
    with tempfile.TemporaryDirectory(prefix="rtg-bench-stub-ws-") as workdir:
        run_stub_ws(report, sessions, seconds, Path(workdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
