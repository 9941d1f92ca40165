"""An HTTP/1.1 load generator that runs in its own process: raw asyncio, keep-alive connections.

Open loop (`--rate`): requests are released on a fixed schedule whatever the server does, and a
request's latency runs from its release, so a slow server also pays for the queue it causes.
Closed loop (`--rate 0`): every connection sends back to back, which finds saturation.
`--requests N` stops after N completions instead of after a duration (memory runs).
Prints one JSON object on stdout. `run_loadgen` is the parent's side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import rss_kb

REPO = Path(__file__).resolve().parents[1]
PERCENTILES = (50, 90, 99)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    summary = {f"p{p}": percentile(ordered, p) * 1000 for p in PERCENTILES}
    summary["max"] = ordered[-1] * 1000 if ordered else math.nan
    summary["mean"] = sum(ordered) / len(ordered) * 1000 if ordered else math.nan
    return summary


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight; Content-Length
    bodies only (all the stub and the gateway send)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.reusable = True
        self._buffer = bytearray()
        self._need = -1
        self._body_from = 0
        self._status = 0
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; both set TCP_NODELAY.
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            marker = head.find(b"\r\ncontent-length:")
            if marker < 0:
                self._fail(ConnectionError("response without Content-Length"))
                return
            line_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : line_end if line_end > 0 else len(head)])
            if b"\r\nconnection: close" in head:
                self.reusable = False
            self._body_from = end + 4
            self._need = end + 4 + length
        if len(self._buffer) >= self._need:
            body = bytes(self._buffer[self._body_from : self._need])
            del self._buffer[: self._need]
            self._need = -1
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self._status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed by the server"))

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def exchange(self, payload: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self._waiter

    async def request(self, payload: bytes) -> int:
        status, _ = await self.exchange(payload)
        return status

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def build_request(host: str, port: int, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Run:
    """Samples recorded after the warm-up."""

    latencies: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0
    dispatch_lag_max: float = 0.0
    rss_kb: list[tuple[int, int]] = field(default_factory=list)  # (completed, VmRSS kB)
    total: int = 0  # every completed exchange, warm-up included (for CPU per request)
    measured_from: float = 0.0
    measured_until: float = 0.0


def read_rss_kb(pid: int) -> int:
    """VmRSS in kB, or 0 once the process has gone (a sample, not a failure)."""
    try:
        return rss_kb(pid)
    except (OSError, RuntimeError):
        return 0


async def open_connections(host: str, port: int, count: int) -> list[Connection]:
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(count):
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(Connection, host, port), timeout=5.0
        )
        # uvloop may call connection_made after create_connection returns.
        protocol.transport = transport
        connections.append(protocol)
    return connections


async def exchange(
    connection: Connection, payload: bytes, released: float, run: Run, record: bool
) -> Connection | None:
    sent = time.perf_counter()
    try:
        status = await asyncio.wait_for(connection.request(payload), timeout=10.0)
    except (OSError, TimeoutError):
        if record:
            run.failures += 1
        connection.close()
        return None
    done = time.perf_counter()
    run.total += 1
    if record:
        run.latencies.append(done - released)
        run.service.append(done - sent)
        run.statuses[status] = run.statuses.get(status, 0) + 1
    return connection


async def open_loop(
    args: argparse.Namespace, connections: list[Connection], payloads: list[bytes]
) -> Run:
    run = Run()
    total = int(args.rate * (args.warmup + args.duration))
    measure_from_index = int(args.rate * args.warmup)
    tickets: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def worker(slot: int) -> None:
        connection: Connection | None = connections[slot]
        while True:
            ticket = await tickets.get()
            if ticket is None or connection is None:
                return
            index, released = ticket
            connection = await exchange(
                connection, payloads[slot], released, run, index >= measure_from_index
            )

    workers = [asyncio.create_task(worker(slot)) for slot in range(len(connections))]
    start = time.perf_counter() + 0.02
    for index in range(total):
        due = start + index / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        if index >= measure_from_index:
            run.dispatch_lag_max = max(run.dispatch_lag_max, now - due)
            if index == measure_from_index:
                run.measured_from = now
        # Latency runs from the release, not from the due time: the release can be late by the
        # event loop's timer granularity, which is the client's slack, not the server's.
        tickets.put_nowait((index, now))
    for _ in workers:
        tickets.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*workers), timeout=15.0)
    run.measured_until = time.perf_counter()
    return run


async def closed_loop(
    args: argparse.Namespace, connections: list[Connection], payloads: list[bytes]
) -> Run:
    run = Run()
    started = time.perf_counter()
    measure_from = started + args.warmup
    stop_at = measure_from + args.duration if args.requests == 0 else started + args.max_seconds
    completed = 0

    async def worker(slot: int) -> None:
        nonlocal completed
        connection: Connection | None = connections[slot]
        while connection is not None:
            now = time.perf_counter()
            if now >= stop_at or (args.requests and completed >= args.requests):
                return
            connection = await exchange(
                connection, payloads[slot], now, run, args.requests > 0 or now >= measure_from
            )
            completed += 1
            if args.rss_pid and args.rss_every and completed % args.rss_every == 0:
                run.rss_kb.append((completed, read_rss_kb(args.rss_pid)))

    run.measured_from = measure_from if args.requests == 0 else started
    await asyncio.wait_for(
        asyncio.gather(*(worker(slot) for slot in range(len(connections)))),
        timeout=args.max_seconds + 15.0,
    )
    run.measured_until = time.perf_counter()
    return run


async def sample_rss(pid: int, samples: list[int], stop: asyncio.Event) -> None:
    for _ in range(100_000):
        samples.append(read_rss_kb(pid))
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.1)
            return
        except TimeoutError:
            continue


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    body = args.body.encode()
    tokens = args.token
    payloads = [
        build_request(args.host, args.port, args.path, tokens[slot % len(tokens)], body)
        for slot in range(args.connections)
    ]
    connections = await open_connections(args.host, args.port, args.connections)
    rss_samples: list[int] = []
    stop = asyncio.Event()
    sampler = (
        asyncio.create_task(sample_rss(args.rss_pid, rss_samples, stop)) if args.rss_pid else None
    )
    try:
        if args.rate > 0:
            run = await open_loop(args, connections, payloads)
        else:
            run = await closed_loop(args, connections, payloads)
    finally:
        stop.set()
        if sampler is not None:
            await sampler
        for connection in connections:
            connection.close()
    elapsed = max(run.measured_until - run.measured_from, 1e-9)
    completed = len(run.latencies)
    ok = run.statuses.get(200, 0)
    return {
        "mode": "open" if args.rate > 0 else "closed",
        "offered_rate": args.rate,
        "connections": args.connections,
        "completed": completed,
        "total_completed": run.total,
        "ok": ok,
        "statuses": {str(code): count for code, count in sorted(run.statuses.items())},
        "failures": run.failures,
        "seconds": elapsed,
        "throughput": ok / elapsed,
        "latency_ms": summarize_ms(run.latencies),
        "service_ms": summarize_ms(run.service),
        "dispatch_lag_max_ms": run.dispatch_lag_max * 1000,
        "rss_kb_max": max(rss_samples) if rss_samples else None,
        "latencies_ms": [round(value * 1000, 4) for value in run.latencies] if args.samples else [],
        "rss_checkpoints": run.rss_kb,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", action="append", required=True, help="bearer, one per slot")
    parser.add_argument("--body", required=True, help="JSON request body")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=0, help="closed loop: stop after N")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--rss-pid", type=int, default=0, help="sample this process's VmRSS")
    parser.add_argument("--rss-every", type=int, default=0, help="closed loop: RSS every N")
    parser.add_argument("--samples", action="store_true", help="include every latency (ms)")
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("the load generator only talks to 127.0.0.1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run
    result = runner(main_async(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


def run_loadgen(
    *,
    port: int,
    path: str,
    tokens: list[str],
    body: str,
    connections: int,
    rate: float = 0.0,
    warmup: float = 1.0,
    duration: float = 5.0,
    requests: int = 0,
    rss_pid: int = 0,
    rss_every: int = 0,
    samples: bool = False,
) -> dict[str, Any]:
    """Run the generator in a child process and return its JSON result."""
    command = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--path", path]
    for token in tokens:
        command += ["--token", token]
    command += ["--body", body, "--connections", str(connections), "--rate", str(rate)]
    command += ["--warmup", str(warmup), "--duration", str(duration)]
    command += ["--requests", str(requests), "--rss-pid", str(rss_pid)]
    command += ["--rss-every", str(rss_every)] + (["--samples"] if samples else [])
    limit = warmup + duration + 60.0 if requests == 0 else 180.0
    finished = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=limit, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"load generator failed: {finished.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


if __name__ == "__main__":
    sys.exit(main())
