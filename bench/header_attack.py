"""Gateway RSS and mint latency under a header attack, next to idle and quiet figures.

The header attack: connections that send one header line of many megabytes and never end
it (reconnecting as the gateway hangs up), and connections that drip a header a byte at a time.
While it runs, real `POST /realtime_session` calls are timed one after another.
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field

from bench.procs import HOST, Stack, gateway_body, post_json, rss_kb, tenant_key
from bench.report import Report, Target

GROWTH_TARGET = Target("<=", 20.0)
ERRORS_TARGET = Target("==", 0.0)
HEADER_LINE_BYTES = 32 * 1024 * 1024
CHUNK = b"a" * 65536


@dataclass(frozen=True)
class HeaderAttackPlan:
    mints: int = 100
    flooders: int = 4
    drips: int = 50

    @classmethod
    def quick(cls) -> HeaderAttackPlan:
        return cls(mints=20, flooders=2, drips=10)


@dataclass
class AttackTally:
    stop: threading.Event = field(default_factory=threading.Event)
    hung_up: int = 0  # flood connections the gateway closed before the header ended
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_hang_up(self) -> None:
        with self.lock:
            self.hung_up += 1


def flood(port: int, tally: AttackTally) -> None:
    """Unterminated multi-megabyte header lines, one connection after another."""
    while not tally.stop.is_set():
        try:
            with socket.create_connection((HOST, port), timeout=5) as sock:
                sock.sendall(b"POST /realtime_session HTTP/1.1\r\nHost: bench\r\nX-Big: ")
                sent = 0
                while sent < HEADER_LINE_BYTES and not tally.stop.is_set():
                    sock.sendall(CHUNK)
                    sent += len(CHUNK)
                tally.stop.wait(0.5)  # never ends the header
        except OSError:
            tally.count_hang_up()


def drip(port: int, tally: AttackTally) -> None:
    """A request line, then a header byte every 0.2 s, reconnecting when hung up on."""
    while not tally.stop.is_set():
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Drip: ")
            while not tally.stop.wait(0.2):
                sock.sendall(b"a")


def timed_mints(stack: Stack, count: int) -> tuple[list[float], int]:
    url = stack.gateway_url + "/realtime_session"
    payload = json.loads(gateway_body())
    times: list[float] = []
    errors = 0
    for index in range(count):
        started = time.perf_counter()
        status = post_json(url, tenant_key(index % 64), payload, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        errors += status != 200
    return times, errors


def run_header_attack(stack: Stack, report: Report, plan: HeaderAttackPlan) -> None:
    pid = stack.gateway.pid
    port = stack.gateway.port
    quiet, _ = timed_mints(stack, plan.mints)
    idle_kb = rss_kb(pid)
    tally = AttackTally()
    threads = [threading.Thread(target=flood, args=(port, tally)) for _ in range(plan.flooders)]
    threads += [threading.Thread(target=drip, args=(port, tally)) for _ in range(plan.drips)]
    peak_kb = idle_kb
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak_kb
        while not sampling.wait(0.05):
            peak_kb = max(peak_kb, rss_kb(pid))

    sampler = threading.Thread(target=sample)
    for thread in [*threads, sampler]:
        thread.start()
    try:
        time.sleep(0.5)  # let the attack reach its stride
        attacked, errors = timed_mints(stack, plan.mints)
    finally:
        tally.stop.set()
        for thread in threads:
            thread.join(15)
        sampling.set()
        sampler.join(5)
    peak_kb = max(peak_kb, rss_kb(pid))
    attack = f"{plan.flooders} flooding, {plan.drips} dripping connections"
    report.add("header_attack_rss_idle_mb", idle_kb / 1024, note="just before the attack")
    report.add("header_attack_rss_peak_mb", peak_kb / 1024, note=attack)
    report.add("header_attack_rss_growth_mb", (peak_kb - idle_kb) / 1024, GROWTH_TARGET)
    report.add(
        "header_attack_flood_hangups",
        tally.hung_up,
        note="flood connections cut before their header ended",
    )
    quiet_p50 = statistics.median(quiet)
    attacked_p50 = statistics.median(attacked)
    report.add("header_attack_mint_quiet_p50_ms", quiet_p50, note=f"{plan.mints} sequential")
    report.add("header_attack_mint_p50_ms", attacked_p50, note="same, under the attack")
    report.add("header_attack_mint_ratio", attacked_p50 / quiet_p50, note="attacked / quiet")
    report.add("header_attack_mint_errors", errors, ERRORS_TARGET)
