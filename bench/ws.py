"""WebSocket sessions through the gateway (issue 22): N concurrent sessions, each streaming
24 kHz PCM16 in 20 ms frames (`input_audio_buffer.append`, 1.3 kB of JSON) every 20 ms, to a
provider that sends every frame straight back (`bench/ws_echo.py`), so audio flows both ways at
real-time rate. The same sessions run against that provider directly, through one gateway
worker (`realtime-gateway serve`, in-process store), and through LiteLLM's proxy (one worker,
installed by `bench/litellm_relay.py` in a venv of its own). Figures, per N and relay
(`gateway`, `litellm`):

- `ws_<N>_direct_rtt_ms_p50/p99`, `ws_<N>_<relay>_rtt_ms_p50/p99`: a frame's round trip as
  the load generator sees it;
- `ws_<N>_<relay>_added_ms_p50/p99`: what the relay adds to a frame's round trip (both hops),
  its percentile less the direct one (target for the gateway at 100 sessions: p99 under 1 ms);
- `ws_<N>_<relay>_cpu_ms_per_mb`: the relay's CPU per MB it relayed (both directions);
- `ws_<N>_<relay>_rss_kb_per_session`: its VmRSS with N sessions open, less idle, over N
  (target for the gateway: under 100 kB);
- `ws_<relay>_sessions_per_core`: the largest N whose added p99 stayed under 5 ms, over the
  cores the relay used relaying them.

All on one machine: the load generator, the echo and the relay share its cores (and, here,
other work), so the figures carry that noise; each run prints the load average.

`python -m bench.ws [--quick] [--sessions 1,10,50,100] [--seconds 10] [--no-litellm]`, or
`python -m bench --only ws`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import uvloop
import websockets

from bench.litellm_relay import MASTER_KEY, litellm_service
from bench.procs import HOST, Service, cpu_seconds, free_port, gateway_service, rss_kb, tenant_key
from bench.report import Report, Target

FRAME_SECONDS = 0.02
ADDED_P99_TARGET = Target("<=", 1.0)
RSS_TARGET = Target("<=", 100.0)
SUSTAINED_P99_MS = 5.0


@dataclass(frozen=True)
class WsPlan:
    sessions: tuple[int, ...] = (1, 10, 50, 100)
    seconds: float = 10.0


@dataclass
class Stats:
    rtts: list[float] = field(default_factory=list)
    bytes: int = 0


def frame_pcm() -> str:
    t = np.arange(480) / 24_000
    pcm = (np.sin(2 * np.pi * 200 * t) * 1000).astype("<i2").tobytes()
    return base64.b64encode(pcm).decode()


async def one_session(
    url: str,
    headers: dict[str, str],
    seconds: float,
    opened: asyncio.Event,
    go: asyncio.Event,
    stats: Stats,
    phase: float,
) -> None:
    """One session: open, wait for every other to open, stream for `seconds`."""
    audio = frame_pcm()
    async with websockets.connect(
        url, additional_headers=headers, compression=None, max_size=None, ping_interval=None
    ) as socket:
        while json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] != "session.created":
            pass
        opened.set()
        await go.wait()
        loop = asyncio.get_running_loop()
        sent: dict[str, float] = {}
        clock = time.perf_counter  # uvloop's loop.time() moves in whole milliseconds
        end = loop.time() + seconds

        async def receive() -> None:
            async for message in socket:
                now = clock()
                event = json.loads(message)
                at = sent.pop(event.get("event_id", ""), None)
                if at is not None:
                    stats.rtts.append(now - at)
                    stats.bytes += 2 * len(message)

        receiver = asyncio.ensure_future(receive())
        start = loop.time() + phase * FRAME_SECONDS  # the sessions' frames spread over 20 ms
        for index in range(1, int(seconds / FRAME_SECONDS) + 1):
            await asyncio.sleep(max(0.0, start + index * FRAME_SECONDS - loop.time()))
            if loop.time() > end:
                break
            event_id = f"e{index:07d}"
            text = json.dumps(
                {"type": "input_audio_buffer.append", "event_id": event_id, "audio": audio}
            )
            sent[event_id] = clock()
            await socket.send(text)
        await asyncio.sleep(0.2)  # the last echoes
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)


@dataclass
class Run:
    rtts: list[float]
    mb: float
    cpu: float  # seconds of the measured process
    wall: float
    open_rss_kb: int


async def run_sessions(
    url: str, headers: dict[str, str], count: int, seconds: float, pid: int | None
) -> Run:
    go = asyncio.Event()
    stats = [Stats() for _ in range(count)]
    opened = [asyncio.Event() for _ in range(count)]
    tasks = [
        asyncio.ensure_future(
            one_session(url, headers, seconds, opened[i], go, stats[i], phase=i / count)
        )
        for i in range(count)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 60)
    cpu_before = cpu_seconds(pid) if pid else 0.0
    wall_before = time.monotonic()
    go.set()
    await asyncio.sleep(min(1.0, seconds / 2))
    open_rss = rss_kb(pid) if pid else 0
    await asyncio.gather(*tasks)
    wall = time.monotonic() - wall_before
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    rtts = sorted(value for s in stats for value in s.rtts)
    return Run(rtts, sum(s.bytes for s in stats) / 1e6, cpu, wall, open_rss)


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_ws(report: Report, plan: WsPlan, workdir: Path, litellm: bool = True) -> None:
    echo_port, gateway_port = free_port(), free_port()
    echo = Service(
        name="ws-echo",
        command=[sys.executable, "-m", "bench.ws_echo", "--host", HOST, "--port", str(echo_port)],
        port=echo_port,
    )
    gateway = gateway_service(gateway_port, echo_port)
    gateway.env["GATEWAY_MAX_CONCURRENT_CALLS"] = "10000"
    gateway.env["GATEWAY_MAX_CONNECTIONS"] = "4000"
    gateway.env["GATEWAY_WS_MAX_SESSIONS"] = "2000"
    services = [echo, gateway]
    targets = [
        Relay("gateway", gateway_port, {"Authorization": f"Bearer {tenant_key(0)}"}, gateway)
    ]
    if litellm:
        try:
            relay_port = free_port()
            proxy = litellm_service(relay_port, echo_port, workdir)
            services.append(proxy)
            targets.append(
                Relay("litellm", relay_port, {"Authorization": f"Bearer {MASTER_KEY}"}, proxy)
            )
        except (OSError, subprocess.SubprocessError) as error:
            report.skip("ws litellm", f"LiteLLM could not be installed: {error}")
    try:
        for service in services:
            service.start(workdir, timeout=90)
        uvloop.run(_measure(report, plan, echo_port, targets))
    finally:
        for service in reversed(services):
            service.stop()


@dataclass(frozen=True)
class Relay:
    """A relay measured against the direct run: its port, credential and process."""

    name: str
    port: int
    headers: dict[str, str]
    service: Service

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/v1/realtime?model=gpt-realtime"


async def _measure(report: Report, plan: WsPlan, echo_port: int, targets: list[Relay]) -> None:
    direct_url = f"ws://{HOST}:{echo_port}/v1/realtime?model=gpt-realtime"
    direct_headers = {"Authorization": "Bearer sk-bench"}
    sustained: dict[str, tuple[int, float]] = {}
    for count in plan.sessions:
        direct = await run_sessions(direct_url, direct_headers, count, plan.seconds, None)
        if not direct.rtts:
            report.skip(f"ws_{count}", "no frames came back directly")
            continue
        d50, d99 = percentile(direct.rtts, 0.5), percentile(direct.rtts, 0.99)
        report.add(f"ws_{count}_direct_rtt_ms_p50", 1000 * d50)
        report.add(f"ws_{count}_direct_rtt_ms_p99", 1000 * d99)
        for target in targets:
            await asyncio.sleep(0.5)
            pid = target.service.pid
            idle_rss = rss_kb(pid)
            relayed = await run_sessions(target.url, target.headers, count, plan.seconds, pid)
            await asyncio.sleep(1.0)  # the sessions' ends are counted before the next run
            name = f"ws_{count}_{target.name}"
            if not relayed.rtts:
                report.skip(name, "no frames came back")
                continue
            p50, p99 = percentile(relayed.rtts, 0.5), percentile(relayed.rtts, 0.99)
            report.add(f"{name}_rtt_ms_p50", 1000 * p50)
            report.add(f"{name}_rtt_ms_p99", 1000 * p99)
            added_p99 = 1000 * (p99 - d99)
            report.add(f"{name}_added_ms_p50", 1000 * (p50 - d50))
            gated = target.name == "gateway" and count == max(plan.sessions)
            report.add(
                f"{name}_added_ms_p99",
                added_p99,
                ADDED_P99_TARGET if gated else None,
                note=f"{len(relayed.rtts)} frames relayed",
            )
            cores = relayed.cpu / relayed.wall
            report.add(
                f"{name}_cpu_ms_per_mb",
                1000 * relayed.cpu / relayed.mb if relayed.mb else math.nan,
                note=f"{target.name} {cores:.2f} cores for {relayed.mb / relayed.wall:.2f} MB/s",
            )
            report.add(
                f"{name}_rss_kb_per_session",
                (relayed.open_rss_kb - idle_rss) / count,
                RSS_TARGET if gated else None,
            )
            if added_p99 < SUSTAINED_P99_MS and cores > 0:
                sustained[target.name] = (count, cores)
    for relay, (count, cores) in sustained.items():
        report.add(
            f"ws_{relay}_sessions_per_core",
            count / cores,
            note=f"{count} sessions with added p99 under {SUSTAINED_P99_MS:g} ms "
            f"on {cores:.2f} cores",
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 and 10 sessions, 3 s each")
    parser.add_argument("--sessions", default="1,10,50,100", help="session counts, in order")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per count")
    parser.add_argument("--no-litellm", action="store_true", help="the gateway alone")
    args = parser.parse_args()
    plan = (
        WsPlan((1, 10), 3.0)
        if args.quick
        else WsPlan(tuple(int(n) for n in args.sessions.split(",")), args.seconds)
    )
    report = Report()
    with tempfile.TemporaryDirectory(prefix="rtg-bench-ws-") as workdir:
        run_ws(report, plan, Path(workdir), litellm=not args.no_litellm)
    print()
    print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
