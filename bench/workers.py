"""Every core: mints/s at saturation through `serve --workers 1` and `serve --workers 2`, side by
side, both sharing one redis-server (the limiter on every mint).

Two upstreams, one after the other:
- `canned` (`bench/canned_upstream.py`, a few tens of microseconds per answer): what the
  gateway's workers themselves make of the cores. The target applies here: with the stub as the
  upstream, the stub's own CPU (about half a gateway's per mint) shares the same two cores and
  caps any worker count.
- `stub`: the whole offline stack, for context (`workers_stub_*`).

Blocks alternate (1, 2, 2, 1, ...); with the stub, each on a freshly started stub. The scaling
ratio is the median over rounds of each round's back-to-back pair. Where the machine has a core
to spare beyond the workers, the gateway's processes are pinned to their own cores and the load
generator, the upstream and Redis to the others (`os.sched_setaffinity`); on a 2-core machine
they cannot be kept apart, and the note says so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import (
    HOST,
    Service,
    Stack,
    canned_upstream_service,
    cpu_seconds,
    free_port,
    gateway_body,
    gateway_service,
    redis_service,
    tenant_keys,
)
from bench.report import Report, Target
from bench.wrk import run_wrk

WORKER_COUNTS = (1, 2)
SCALING_TARGET = Target(">=", 1.6)


@dataclass(frozen=True)
class WorkersPlan:
    rounds: int = 5  # each round: one block per worker count, adjacent in time
    warmup: int = 1  # seconds: wrk counts whole ones
    block: int = 2
    connections: int = 32


def workers_gateway(upstream_port: int, redis_port: int, workers: int) -> Service:
    service = gateway_service(free_port(), upstream_port)
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


def block(
    stack: Stack, upstream: Service, gateway: Service, redis: Service, plan: WorkersPlan
) -> dict[str, Any]:
    if upstream is stack.stub:
        stack.restart_stub()  # an empty secret store for every block
    pids = process_tree(gateway.pid)
    pinning = Pinning.plan(max(WORKER_COUNTS))  # the same arrangement for every count
    generator: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if pinning is not None:
        pinning.apply(pids, [upstream.pid, redis.pid])
        generator = pinning.load_generator()
    url = f"http://{HOST}:{gateway.port}/realtime_session"
    helpers = {"upstream": upstream.pid, "redis": redis.pid}
    with generator:
        load = functools.partial(
            run_wrk,
            url=url,
            token=tenant_keys()[0],
            body=gateway_body(),
            connections=plan.connections,
        )
        load(seconds=plan.warmup)  # connections open, pools filled, caches warm
        before = {pid: cpu_seconds(pid) for pid in pids}
        helpers_before = {name: cpu_seconds(pid) for name, pid in helpers.items()}
        run = load(seconds=plan.block)
    used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
    run["others_cpu_seconds"] = {
        "wrk": run["cpu_seconds"],
        **{name: cpu_seconds(pid) - helpers_before[name] for name, pid in helpers.items()},
    }
    run["gateway_cpu_seconds"] = sum(used.values())
    run["worker_cpu_seconds"] = [used[pid] for pid in pids[1:]] or [used[pids[0]]]
    run["wall_seconds"] = run["seconds"]
    run["pinned"] = pinning is not None
    return run


def run_workers(stack: Stack, report: Report, plan: WorkersPlan) -> None:
    canned = canned_upstream_service(free_port())
    canned.start(stack.workdir)
    try:
        measure(stack, canned, report, plan, prefix="workers", target=SCALING_TARGET)
    finally:
        canned.stop()
    measure(stack, stack.stub, report, plan, prefix="workers_stub", target=None)


def measure(
    stack: Stack,
    upstream: Service,
    report: Report,
    plan: WorkersPlan,
    *,
    prefix: str,
    target: Target | None,
) -> None:
    redis = redis_service(free_port())
    redis.start(stack.workdir, timeout=10.0)
    gateways: dict[int, Service] = {}
    try:
        for workers in WORKER_COUNTS:
            gateways[workers] = workers_gateway(upstream.port, redis.port, workers)
            gateways[workers].start(stack.workdir)
        runs: dict[int, list[dict[str, Any]]] = {workers: [] for workers in WORKER_COUNTS}
        for round_index in range(plan.rounds):
            order = WORKER_COUNTS if round_index % 2 == 0 else WORKER_COUNTS[::-1]
            for workers in order:
                runs[workers].append(block(stack, upstream, gateways[workers], redis, plan))
    finally:
        for service in gateways.values():
            service.stop()
        redis.stop()
    report_runs(runs, report, plan, prefix=prefix, target=target, upstream=upstream.name)


def report_runs(
    runs: dict[int, list[dict[str, Any]]],
    report: Report,
    plan: WorkersPlan,
    *,
    prefix: str,
    target: Target | None,
    upstream: str,
) -> None:
    rates: dict[int, float] = {}
    cpu_per_mint: dict[int, float] = {}
    all_errors = 0
    for workers, measured in runs.items():
        seconds = sum(run["seconds"] for run in measured)
        ok = sum(run["ok"] for run in measured)
        total = sum(run["total_completed"] for run in measured)
        rates[workers] = ok / seconds if seconds else float("nan")
        errors = sum(run["completed"] - run["ok"] + run["failures"] for run in measured)
        all_errors += errors
        cpu = sum(run["gateway_cpu_seconds"] for run in measured)
        pinned = all(run["pinned"] for run in measured)
        report.add(
            f"{prefix}_{workers}_mints_per_s",
            rates[workers],
            note=f"{upstream} upstream, closed loop, {plan.connections} connections, "
            f"{seconds:.1f} s, {errors} errors, Redis limiter, "
            + ("gateway pinned apart" if pinned else "not pinned apart: too few cores"),
        )
        cpu_per_mint[workers] = cpu / total * 1e6 if total else float("nan")
        others = {
            name: sum(run["others_cpu_seconds"][name] for run in measured) / total * 1e6
            for name in measured[0]["others_cpu_seconds"]
        }
        report.add(
            f"{prefix}_{workers}_gateway_cpu_us_per_mint",
            cpu_per_mint[workers],
            note="supervisor + workers; sharing the cores, per mint: "
            + ", ".join(f"{name} {us:.0f} us" for name, us in others.items()),
        )
        per_worker = [
            sum(shares)
            for shares in zip(*(run["worker_cpu_seconds"] for run in measured), strict=True)
        ]
        split = "/".join(f"{share / sum(per_worker):.0%}" for share in per_worker)
        report.add(
            f"{prefix}_{workers}_gateway_cores_busy",
            cpu / sum(run["wall_seconds"] for run in measured),
            note=f"CPU seconds per second; split between workers {split}",
        )
    report.add(
        f"{prefix}_errors", all_errors, Target("==", 0), note="non-200 or failed, all blocks"
    )
    report.add(
        f"{prefix}_cpu_per_mint_ratio",
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
    pairs = ", ".join(f"{ratio:.2f}" for ratio in per_round)
    report.add(
        f"{prefix}_scaling_ratio",
        statistics.median(per_round) if per_round else float("nan"),
        target,
        note=f"2 workers / 1 worker on {os.cpu_count()} CPUs, {upstream} upstream, median of "
        f"{len(per_round)} back-to-back pairs ({pairs}); "
        f"pooled {rates[2] / rates[1] if rates[1] else float('nan'):.2f}",
    )
