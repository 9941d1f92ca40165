"""Gateway memory: VmRSS idle, under load, and across a run of N mints (is it flat?)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.loadgen import run_loadgen
from bench.procs import Stack, gateway_body, rss_kb, tenant_keys
from bench.report import Report, Target

RSS_TARGET = Target("<=", 100.0)
# "Flat": what the second half of the run adds. Python settles its arenas after a few thousand
# requests; state that grows per mint would show here as a steady climb.
GROWTH_TARGET = Target("<=", 2.0)


@dataclass(frozen=True)
class MemoryPlan:
    mints: int = 10_000
    checkpoints: int = 10
    connections: int = 16


def mb(kb: int) -> float:
    return kb / 1024


def run_memory(
    stack: Stack, report: Report, plan: MemoryPlan, idle_kb: int, under_load_kb: int
) -> None:
    stack.restart_stub()
    run = run_loadgen(
        port=stack.gateway.port,
        path="/realtime_session",
        tokens=tenant_keys(),
        body=gateway_body(),
        connections=plan.connections,
        requests=plan.mints,
        rss_pid=stack.gateway.pid,
        rss_every=max(1, plan.mints // plan.checkpoints),
    )
    after_kb = rss_kb(stack.gateway.pid)
    under_load_kb = max(under_load_kb, run["rss_kb_max"] or 0)
    checkpoints: list[tuple[int, int]] = [tuple(point) for point in run["rss_checkpoints"]]
    half = [kb for done, kb in checkpoints if done >= plan.mints // 2]
    growth_kb = (half[-1] - half[0]) if len(half) >= 2 else 0
    trail = " ".join(f"{done}:{mb(kb):.1f}" for done, kb in checkpoints)
    report.add("gateway_rss_idle_mb", mb(idle_kb), RSS_TARGET)
    report.add("gateway_rss_under_load_mb", mb(under_load_kb), RSS_TARGET, note="peak, 0.1 s")
    report.add(
        f"gateway_rss_after_{plan.mints}_mints_mb",
        mb(after_kb),
        RSS_TARGET,
        note=f"{run['ok']} ok of {run['completed']}",
    )
    report.add(
        "gateway_rss_growth_second_half_mb",
        mb(growth_kb),
        GROWTH_TARGET,
        note=f"mints:MB {trail}",
    )
