"""Mint overhead: `POST /realtime_session` through the gateway against the stub's own
`POST /v1/realtime/client_secrets`, at a fixed offered load and at saturation.

Each phase gets a freshly started stub, so neither path inherits the other's secret store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import run_loadgen
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

PERCENTILES = ("p50", "p90", "p99", "max")
OVERHEAD_TARGETS = {"p50": Target("<=", 1.0), "p99": Target("<=", 5.0)}
SATURATION_RATIO_TARGET = Target(">=", 0.5)


@dataclass(frozen=True)
class MintPlan:
    rate: float = 200.0
    warmup: float = 2.0
    duration: float = 10.0
    saturation_warmup: float = 2.0
    saturation_duration: float = 8.0
    connections: int = 16


@dataclass
class MintResult:
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def gateway_rss_peak_kb(self) -> int:
        peaks = [run["rss_kb_max"] for name, run in self.runs.items() if name.startswith("gateway")]
        return max((peak for peak in peaks if peak), default=0)


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


def _load(stack: Stack, path: str, rate: float, plan: MintPlan) -> dict[str, Any]:
    through_gateway = path == "gateway"
    saturate = rate == 0
    pids = {"stub": stack.stub.pid, "gateway": stack.gateway.pid}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    run = run_loadgen(
        port=stack.gateway.port if through_gateway else stack.stub.port,
        path="/realtime_session" if through_gateway else "/v1/realtime/client_secrets",
        tokens=tenant_keys() if through_gateway else [PROVIDER_KEY],
        body=gateway_body() if through_gateway else direct_body(),
        connections=plan.connections,
        rate=rate,
        warmup=plan.saturation_warmup if saturate else plan.warmup,
        duration=plan.saturation_duration if saturate else plan.duration,
        rss_pid=stack.gateway.pid if through_gateway else 0,
    )
    # CPU time per request barely depends on what else the machine runs, unlike wall time.
    total = max(1, run["total_completed"])
    run["cpu_us_per_request"] = {
        name: (cpu_seconds(pid) - cpu_before[name]) / total * 1e6 for name, pid in pids.items()
    }
    return run


def _errors(run: dict[str, Any]) -> int:
    return int(run["completed"] - run["ok"] + run["failures"])


def run_mint(stack: Stack, report: Report, plan: MintPlan) -> MintResult:
    result = MintResult()
    check_paths(stack)
    phases = [
        ("direct_open", "direct", plan.rate),
        ("gateway_open", "gateway", plan.rate),
        ("direct_saturation", "direct", 0.0),
        ("gateway_saturation", "gateway", 0.0),
    ]
    for index, (name, path, rate) in enumerate(phases):
        if index:
            stack.restart_stub()
        result.runs[name] = _load(stack, path, rate, plan)

    direct, gateway = result.runs["direct_open"], result.runs["gateway_open"]
    rate_note = f"{plan.rate:g} req/s offered, {plan.duration:g} s"
    for path, run in (("direct", direct), ("gateway", gateway)):
        for p in PERCENTILES:
            report.add(f"mint_{path}_{p}_ms", run["latency_ms"][p], note=rate_note)
    for p in PERCENTILES:
        overhead = gateway["latency_ms"][p] - direct["latency_ms"][p]
        report.add(f"mint_overhead_{p}_ms", overhead, OVERHEAD_TARGETS.get(p))
    report.add(
        "mint_open_loop_achieved_per_s",
        min(direct["throughput"], gateway["throughput"]),
        note=f"the lower of both paths; generator lag max "
        f"{max(direct['dispatch_lag_max_ms'], gateway['dispatch_lag_max_ms']):.1f} ms",
    )

    direct_sat = result.runs["direct_saturation"]
    gateway_sat = result.runs["gateway_saturation"]
    sat_note = f"closed loop, {plan.connections} connections, {plan.saturation_duration:g} s"
    report.add("mint_direct_saturation_per_s", direct_sat["throughput"], note=sat_note)
    report.add("mint_gateway_saturation_per_s", gateway_sat["throughput"], note=sat_note)
    ratio = (
        gateway_sat["throughput"] / direct_sat["throughput"]
        if direct_sat["throughput"]
        else math.nan
    )
    report.add("mint_saturation_ratio", ratio, SATURATION_RATIO_TARGET)
    for path, run in (("direct", direct_sat), ("gateway", gateway_sat)):
        report.add(f"mint_{path}_saturation_p50_ms", run["latency_ms"]["p50"])
        report.add(f"mint_{path}_saturation_p99_ms", run["latency_ms"]["p99"])
    stub_cpu = direct_sat["cpu_us_per_request"]["stub"]
    gateway_cpu = gateway_sat["cpu_us_per_request"]["gateway"]
    report.add("mint_stub_cpu_us_per_mint", stub_cpu, note="stub process, direct saturation")
    report.add("mint_gateway_cpu_us_per_mint", gateway_cpu, note="gateway process alone")
    report.add(
        "mint_cpu_capacity_ratio",
        stub_cpu / gateway_cpu if gateway_cpu else math.nan,
        note="stub CPU per mint / gateway CPU per mint: the saturation ratio on idle cores",
    )
    errors = sum(_errors(run) for run in result.runs.values())
    report.add("mint_errors", float(errors), Target("==", 0.0), note="non-200 or failed, all runs")
    return result
