"""Every core: mints/s at saturation through `serve --workers 1` and `serve --workers 2`, side by
side, both sharing one redis-server (the limiter on every mint), against the same stub.

Blocks alternate (1, 2, 2, 1, ...) on a freshly started stub each; the scaling ratio is the
median over rounds of each round's back-to-back pair. Where the machine has a core
to spare beyond the workers, the gateway's processes are pinned to their own cores and the load
generator, the stub and Redis to the others (`os.sched_setaffinity`); on a 2-core machine they
cannot be kept apart, and the note says so.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import run_loadgen
from bench.procs import (
    HOST,
    Service,
    Stack,
    cpu_seconds,
    free_port,
    gateway_body,
    gateway_service,
    redis_service,
    tenant_keys,
)
from bench.report import Report, Target

WORKER_COUNTS = (1, 2)
SCALING_TARGET = Target(">=", 1.6)


@dataclass(frozen=True)
class WorkersPlan:
    rounds: int = 5  # each round: one block per worker count, adjacent in time
    warmup: float = 0.5
    block: float = 2.0
    connections: int = 32


def workers_gateway(stub_port: int, redis_port: int, workers: int) -> Service:
    service = gateway_service(free_port(), stub_port)
    service.name = f"gateway-{workers}-workers"
    service.command += ["--workers", str(workers)]
    service.env["GATEWAY_REDIS_URL"] = f"redis://{HOST}:{redis_port}/0"
    return service


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (the supervisor and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


@dataclass(frozen=True)
class Pinning:
    """Gateway cores apart from the load generator's, stub's and Redis's, when there are enough."""

    gateway: set[int]
    others: set[int]

    @classmethod
    def plan(cls, workers: int) -> Pinning | None:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) <= workers:
            return None
        return cls(gateway=set(cores[:workers]), others=set(cores[workers:]))

    def apply(self, gateway: list[int], others: list[int]) -> None:
        for pid in gateway:
            os.sched_setaffinity(pid, self.gateway)
        for pid in others:
            os.sched_setaffinity(pid, self.others)

    @contextlib.contextmanager
    def load_generator(self) -> Iterator[None]:
        """The load generator inherits this process's affinity while it starts."""
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.others)
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)


def block(stack: Stack, gateway: Service, redis: Service, plan: WorkersPlan) -> dict[str, Any]:
    stack.restart_stub()
    pids = process_tree(gateway.pid)
    pinning = Pinning.plan(max(WORKER_COUNTS))  # the same arrangement for every count
    generator: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if pinning is not None:
        pinning.apply(pids, [stack.stub.pid, redis.pid])
        generator = pinning.load_generator()
    before = {pid: cpu_seconds(pid) for pid in pids}
    with generator:
        run = run_loadgen(
            port=gateway.port,
            path="/realtime_session",
            tokens=tenant_keys(),
            body=gateway_body(),
            connections=plan.connections,
            warmup=plan.warmup,
            duration=plan.block,
        )
    used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
    run["gateway_cpu_seconds"] = sum(used.values())
    run["worker_cpu_seconds"] = [used[pid] for pid in pids[1:]] or [used[pids[0]]]
    run["wall_seconds"] = plan.warmup + plan.block
    run["pinned"] = pinning is not None
    return run


def run_workers(stack: Stack, report: Report, plan: WorkersPlan) -> None:
    redis = redis_service(free_port())
    redis.start(stack.workdir, timeout=10.0)
    gateways: dict[int, Service] = {}
    try:
        for workers in WORKER_COUNTS:
            gateways[workers] = workers_gateway(stack.stub.port, redis.port, workers)
            gateways[workers].start(stack.workdir)
        runs: dict[int, list[dict[str, Any]]] = {workers: [] for workers in WORKER_COUNTS}
        for round_index in range(plan.rounds):
            order = WORKER_COUNTS if round_index % 2 == 0 else WORKER_COUNTS[::-1]
            for workers in order:
                runs[workers].append(block(stack, gateways[workers], redis, plan))
    finally:
        for service in gateways.values():
            service.stop()
        redis.stop()

    rates: dict[int, float] = {}
    cpu_per_mint: dict[int, float] = {}
    for workers, measured in runs.items():
        seconds = sum(run["seconds"] for run in measured)
        ok = sum(run["ok"] for run in measured)
        total = sum(run["total_completed"] for run in measured)
        rates[workers] = ok / seconds if seconds else float("nan")
        errors = sum(run["completed"] - run["ok"] + run["failures"] for run in measured)
        cpu = sum(run["gateway_cpu_seconds"] for run in measured)
        pinned = all(run["pinned"] for run in measured)
        report.add(
            f"workers_{workers}_mints_per_s",
            rates[workers],
            note=f"closed loop, {plan.connections} connections, {seconds:.1f} s, "
            f"{errors} errors, Redis limiter, "
            + ("gateway pinned apart" if pinned else "not pinned apart: too few cores"),
        )
        cpu_per_mint[workers] = cpu / total * 1e6 if total else float("nan")
        report.add(
            f"workers_{workers}_gateway_cpu_us_per_mint",
            cpu_per_mint[workers],
            note="supervisor + workers",
        )
        per_worker = [
            sum(shares)
            for shares in zip(*(run["worker_cpu_seconds"] for run in measured), strict=True)
        ]
        split = "/".join(f"{share / sum(per_worker):.0%}" for share in per_worker)
        report.add(
            f"workers_{workers}_gateway_cores_busy",
            cpu / sum(run["wall_seconds"] for run in measured),
            note=f"CPU seconds per second (warm-up included); split between workers {split}",
        )
    report.add(
        "workers_cpu_per_mint_ratio",
        cpu_per_mint[2] / cpu_per_mint[1],
        note="2 workers / 1: near 1 means N workers mint N times as fast given N free cores "
        "(this figure moves little with outside load, the mints/s ones a lot)",
    )
    # Each round's two blocks ran back to back, under the same outside load: their ratio is
    # less noisy than the ratio of the pooled rates when other work comes and goes.
    per_round = sorted(
        two["ok"] / two["seconds"] / (one["ok"] / one["seconds"])
        for one, two in zip(runs[1], runs[2], strict=True)
        if one["ok"]
    )
    report.add(
        "workers_scaling_ratio",
        statistics.median(per_round) if per_round else float("nan"),
        SCALING_TARGET,
        note=f"2 workers / 1 worker on {os.cpu_count()} CPUs, median of {len(per_round)} "
        f"back-to-back pairs ({', '.join(f'{ratio:.2f}' for ratio in per_round)}); "
        f"pooled {rates[2] / rates[1] if rates[1] else float('nan'):.2f}",
    )
