"""Mint overhead: `POST /realtime_session` through the gateway against the stub's own
`POST /v1/realtime/client_secrets`, at a fixed offered load and at saturation.

The two paths run in alternating blocks (direct, gateway, gateway, direct, ...) so drift in the
machine's load hits both alike, and every block gets a freshly started stub: the stub scans its
whole secret store on every mint, so a stub that has minted for a while is slower, and neither
path may inherit the other's store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import run_loadgen, summarize_ms
from bench.procs import (
    PROVIDER_KEY,
    Stack,
    cpu_seconds,
    direct_body,
    gateway_body,
    post_json,
    tenant_keys,
)
from bench.report import Report, Target

PATHS = ("direct", "gateway")
PERCENTILES = ("p50", "p90", "p99", "max")
OVERHEAD_TARGETS = {"p50": Target("<=", 1.0), "p99": Target("<=", 5.0)}
SATURATION_RATIO_TARGET = Target(">=", 0.5)


@dataclass(frozen=True)
class MintPlan:
    rate: float = 200.0
    rounds: int = 3  # each round: one block per path
    warmup: float = 1.0
    block: float = 10.0 / 3  # measured seconds per open-loop block
    saturation_warmup: float = 0.5
    saturation_block: float = 2.5
    connections: int = 16


@dataclass
class Pooled:
    """One path's blocks taken together."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def latency_ms(self) -> dict[str, float]:
        pooled = [value / 1000 for run in self.runs for value in run["latencies_ms"]]
        return summarize_ms(pooled)

    @property
    def throughput(self) -> float:
        seconds = sum(run["seconds"] for run in self.runs)
        return sum(run["ok"] for run in self.runs) / seconds if seconds else math.nan

    def cpu_us_per_request(self, process: str) -> float:
        total = sum(run["total_completed"] for run in self.runs)
        used = sum(run["cpu_seconds"][process] for run in self.runs)
        return used / total * 1e6 if total else math.nan

    @property
    def errors(self) -> int:
        return sum(run["completed"] - run["ok"] + run["failures"] for run in self.runs)

    @property
    def dispatch_lag_max_ms(self) -> float:
        return max((run["dispatch_lag_max_ms"] for run in self.runs), default=math.nan)

    @property
    def seconds(self) -> float:
        return float(sum(run["seconds"] for run in self.runs))


@dataclass
class MintResult:
    open_loop: dict[str, Pooled] = field(default_factory=dict)
    saturation: dict[str, Pooled] = field(default_factory=dict)

    @property
    def gateway_rss_peak_kb(self) -> int:
        runs = self.open_loop["gateway"].runs + self.saturation["gateway"].runs
        return max((run["rss_kb_max"] or 0 for run in runs), default=0)


def check_paths(stack: Stack) -> None:
    """One request each way before timing anything, so a mis-wired stack fails loudly."""
    gateway = post_json(
        f"{stack.gateway_url}/realtime_session", tenant_keys()[0], {"model": "x", "voice": "y"}
    )
    direct = post_json(
        f"{stack.stub_url}/v1/realtime/client_secrets",
        PROVIDER_KEY,
        {"session": {"type": "realtime"}},
    )
    if gateway != 200 or direct != 200:
        raise RuntimeError(
            f"sanity mint failed: gateway {gateway}, direct {direct}\n{stack.logs_tail()}"
        )


def block(
    stack: Stack, path: str, *, rate: float, warmup: float, duration: float, connections: int
) -> dict[str, Any]:
    """One fresh stub, one load generator run on one path, with the CPU each process used."""
    stack.restart_stub()
    through_gateway = path == "gateway"
    pids = {"stub": stack.stub.pid, "gateway": stack.gateway.pid}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    run = run_loadgen(
        port=stack.gateway.port if through_gateway else stack.stub.port,
        path="/realtime_session" if through_gateway else "/v1/realtime/client_secrets",
        tokens=tenant_keys() if through_gateway else [PROVIDER_KEY],
        body=gateway_body() if through_gateway else direct_body(),
        connections=connections,
        rate=rate,
        warmup=warmup,
        duration=duration,
        rss_pid=stack.gateway.pid if through_gateway else 0,
        samples=True,
    )
    # CPU time per request barely depends on what else the machine runs, unlike wall time.
    run["cpu_seconds"] = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    return run


def alternate(
    stack: Stack, plan: MintPlan, *, rate: float, warmup: float, duration: float
) -> dict[str, Pooled]:
    pooled = {path: Pooled() for path in PATHS}
    for round_index in range(plan.rounds):
        order = PATHS if round_index % 2 == 0 else PATHS[::-1]
        for path in order:
            pooled[path].runs.append(
                block(
                    stack,
                    path,
                    rate=rate,
                    warmup=warmup,
                    duration=duration,
                    connections=plan.connections,
                )
            )
    return pooled


def run_mint(stack: Stack, report: Report, plan: MintPlan) -> MintResult:
    check_paths(stack)
    result = MintResult()
    result.open_loop = alternate(
        stack, plan, rate=plan.rate, warmup=plan.warmup, duration=plan.block
    )
    result.saturation = alternate(
        stack, plan, rate=0.0, warmup=plan.saturation_warmup, duration=plan.saturation_block
    )

    direct, gateway = result.open_loop["direct"], result.open_loop["gateway"]
    direct_ms, gateway_ms = direct.latency_ms, gateway.latency_ms
    note = f"{plan.rate:g} req/s offered, {direct.seconds:.1f} s per path, {plan.rounds} block(s)"
    for path, latency in (("direct", direct_ms), ("gateway", gateway_ms)):
        for p in PERCENTILES:
            report.add(f"mint_{path}_{p}_ms", latency[p], note=note if p == "p50" else "")
    for p in PERCENTILES:
        report.add(
            f"mint_overhead_{p}_ms",
            gateway_ms[p] - direct_ms[p],
            OVERHEAD_TARGETS.get(p),
            note="gateway - direct" if p == "p50" else "",
        )
    report.add(
        "mint_open_loop_achieved_per_s",
        min(direct.throughput, gateway.throughput),
        note=f"the lower path; generator lag max "
        f"{max(direct.dispatch_lag_max_ms, gateway.dispatch_lag_max_ms):.1f} ms",
    )

    direct_sat, gateway_sat = result.saturation["direct"], result.saturation["gateway"]
    sat_note = f"closed loop, {plan.connections} connections, {direct_sat.seconds:.1f} s per path"
    report.add("mint_direct_saturation_per_s", direct_sat.throughput, note=sat_note)
    report.add("mint_gateway_saturation_per_s", gateway_sat.throughput)
    report.add(
        "mint_saturation_ratio",
        gateway_sat.throughput / direct_sat.throughput,
        SATURATION_RATIO_TARGET,
        note="gateway / direct",
    )
    for path, pooled in (("direct", direct_sat), ("gateway", gateway_sat)):
        latency = pooled.latency_ms
        report.add(f"mint_{path}_saturation_p50_ms", latency["p50"])
        report.add(f"mint_{path}_saturation_p99_ms", latency["p99"])
    stub_cpu = direct_sat.cpu_us_per_request("stub")
    gateway_cpu = gateway_sat.cpu_us_per_request("gateway")
    report.add("mint_stub_cpu_us_per_mint", stub_cpu, note="stub process, direct saturation")
    report.add("mint_gateway_cpu_us_per_mint", gateway_cpu, note="gateway process alone")
    report.add(
        "mint_cpu_capacity_ratio",
        stub_cpu / gateway_cpu if gateway_cpu else math.nan,
        note="stub CPU / gateway CPU per mint: the saturation ratio if each had its own core",
    )
    errors = sum(
        pooled.errors
        for phase in (result.open_loop, result.saturation)
        for pooled in phase.values()
    )
    report.add("mint_errors", float(errors), Target("==", 0.0), note="non-200 or failed, all runs")
    return result
