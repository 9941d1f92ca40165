"""The leash's costs, against a real redis-server:

- What the leash adds to a brokered call's creation: naming the tenant to the reapers, the
  admission script (cap and budget checked, slot reserved) and recording the call live with
  its provider id and holder; p50/p99 in ms (the provider's call creation it sits beside is
  not part of the figure).
- The reaper's hang-up delay after a deadline: calls with 1-2 s deadlines, spread out, swept by
  one replica's reaper at its default interval; the time from each deadline to the hang-up
  request; p50 and p99 (target: under 1 s).

`python -m bench.leash [--quick]`, or `python -m bench --only leash`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import HOST, Service, free_port, redis_service
from bench.report import Report, Target
from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.redis_fleet import RedisFleet
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.service import Calls, CallsConfig
from realtime_gateway.gateway.calls.store import AdmitRequest
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.policy import Policies, TenantPolicy
from realtime_gateway.gateway.providers.call_http import UpstreamReply
from realtime_gateway.gateway.providers.protocol import CallControl
from realtime_gateway.gateway.redisconn import make_client

HANG_UP_DELAY_TARGET = Target("<=", 1.0)
SPEC = CallSpec("openai", "http://127.0.0.1:9/v1/realtime/calls", "gpt-realtime", "verse")


@dataclass(frozen=True)
class LeashPlan:
    creations: int = 2000
    reaped_calls: int = 60


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def admit_request(tenant: str, policy: TenantPolicy) -> AdmitRequest:
    return AdmitRequest(
        tenant=tenant,
        call_id="call_" + secrets.token_hex(12),
        transport="webrtc",
        policy=policy,
        attach_window_ms=20_000,
        spec=SPEC,
    )


async def creation_cost(url: str, plan: LeashPlan) -> list[float]:
    """What the leash adds to a creation: name the tenant to the reapers, admit, attach."""
    store = RedisCallStore(make_client(url), owns_client=True)
    fleet = RedisFleet(store)
    policy = TenantPolicy(max_concurrent_calls=plan.creations + 1, daily_audio_seconds=10**9)
    samples: list[float] = []
    try:
        for _ in range(plan.creations):
            request = admit_request("bench", policy)
            started = time.perf_counter()
            await fleet.touch("bench")
            await store.admit(request)
            await store.attach("bench", request.call_id, "rtc_" + secrets.token_hex(8), "h")
            samples.append((time.perf_counter() - started) * 1000)
            await store.end("bench", request.call_id, "caller_hangup", "op")  # a small live set
    finally:
        await store.aclose()
    return samples


class TimedHangUps:
    """The provider's side of a hang-up: when each call's hang-up request arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def post(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamReply:
        self.at.setdefault(url.rsplit("/", 2)[-2], time.time())
        return UpstreamReply(200, b"")

    async def aclose(self) -> None:
        return None


async def hang_up_delays(url: str, plan: LeashPlan) -> list[float]:
    """Calls with 1 s deadlines, started over time; the time from each deadline to its
    hang-up request, by one replica's reaper at its default interval."""
    store = RedisCallStore(make_client(url), owns_client=True)
    fleet = RedisFleet(store)
    policy = TenantPolicy(max_call_seconds=1, max_concurrent_calls=plan.reaped_calls + 1)
    provider = TimedHangUps()
    config = CallsConfig("brokered", {}, 60, "deny", 20_000, 10_000)
    calls = Calls(
        config,
        store=store,
        fleet=fleet,
        local=store,
        local_fleet=fleet,
        policies=Policies(default=policy),
        control=CallControl(provider, "sk-bench", 5.0),
        holder=lambda: "holder-bench",
    )
    reaper = Reaper(calls)
    reaper.start()
    deadlines: dict[str, float] = {}
    try:
        for index in range(plan.reaped_calls):
            request = admit_request("reaped", policy)
            await fleet.touch("reaped")
            admitted = await store.admit(request)
            await store.attach("reaped", request.call_id, f"rtc_{index}", "holder-bench")
            deadlines[f"rtc_{index}"] = admitted.deadline_ms / 1000
            await asyncio.sleep(secrets.randbelow(100) / 1000)  # deadlines spread over time
        async with asyncio.timeout(30):
            while len(provider.at) < plan.reaped_calls:
                await asyncio.sleep(0.05)
    finally:
        await reaper.aclose()
        await store.aclose()
    return [provider.at[call] - deadline for call, deadline in deadlines.items()]


async def measure(report: Report, plan: LeashPlan, redis_port: int) -> None:
    url = f"redis://{HOST}:{redis_port}/0"
    cost = await creation_cost(url, plan)
    report.add(
        "leash_creation_added_ms_p50",
        statistics.median(cost),
        note=f"index touch + admit + attach, {plan.creations} creations",
    )
    report.add("leash_creation_added_ms_p99", percentile(cost, 0.99))
    delays = await hang_up_delays(url, plan)
    report.add(
        "reaper_hang_up_delay_s_p50",
        statistics.median(delays),
        HANG_UP_DELAY_TARGET,
        note=f"{plan.reaped_calls} calls, reaper wakes every 0.25 s (jittered)",
    )
    report.add("reaper_hang_up_delay_s_p99", percentile(delays, 0.99), HANG_UP_DELAY_TARGET)


def run_leash(report: Report, plan: LeashPlan, workdir: Path) -> None:
    redis: Service = redis_service(free_port())
    redis.start(workdir, timeout=10.0)
    try:
        asyncio.run(measure(report, plan, redis.port))
    finally:
        redis.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leash", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    plan = LeashPlan(creations=300, reaped_calls=20) if args.quick else LeashPlan()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="rtg-bench-leash-") as workdir:
        run_leash(report, plan, Path(workdir))
    print()
    print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
