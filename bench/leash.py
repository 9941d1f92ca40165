"""The leash's costs, against a real redis-server:

- What the leash adds to a brokered call's creation: the admission script (cap and budget
  checked, slot reserved), naming the upstream call, and the creating replica taking the
  sideband lease; p50/p99 in ms. (Brokered creation without a policy does none of these; the
  provider's call creation it sits beside is not part of the figure.)
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
from realtime_gateway.gateway.leash.lease import RedisLeases
from realtime_gateway.gateway.leash.policy import Policies, TenantPolicy
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.leash.redis_store import RedisLeashStore
from realtime_gateway.gateway.leash.types import CallEnd, DueCall
from realtime_gateway.gateway.redisconn import make_client

HANG_UP_DELAY_TARGET = Target("<=", 1.0)


@dataclass(frozen=True)
class LeashPlan:
    creations: int = 2000
    reaped_calls: int = 60


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def creation_cost(url: str, plan: LeashPlan) -> list[float]:
    store = RedisLeashStore(url)
    client = make_client(url)
    leases = RedisLeases(client, lease_seconds=5.0)
    policy = TenantPolicy(max_concurrent_calls=plan.creations + 1, daily_audio_seconds=10**9)
    samples: list[float] = []
    try:
        for _ in range(plan.creations):
            call_id = "call_" + secrets.token_hex(12)
            started = time.perf_counter()
            await store.admit("bench", call_id, policy)
            await store.attach("bench", call_id, "realtime", "rtc_" + secrets.token_hex(8))
            await leases.take("bench", call_id)
            samples.append((time.perf_counter() - started) * 1000)
            await store.end("bench", call_id, "caller_hangup")  # keep the live set small
    finally:
        await store.aclose()
        await client.aclose()
    return samples


async def hang_up_delays(url: str, plan: LeashPlan) -> list[float]:
    store = RedisLeashStore(url)
    policy = TenantPolicy(max_call_seconds=1, max_concurrent_calls=plan.reaped_calls + 1)
    deadlines: dict[str, float] = {}
    delays: list[float] = []

    async def hang_up(due: DueCall) -> None:
        delays.append(time.time() - deadlines[due.call_id])

    async def ended(end: CallEnd) -> None:
        return None

    reaper = Reaper(store, Policies(default=policy), hang_up, ended)
    reaper.start()
    try:
        for _ in range(plan.reaped_calls):
            call_id = "call_" + secrets.token_hex(12)
            admission = await store.admit("reaped", call_id, policy)
            deadlines[call_id] = admission.deadline
            await asyncio.sleep(secrets.randbelow(100) / 1000)  # deadlines spread over time
        async with asyncio.timeout(30):
            while len(delays) < plan.reaped_calls:
                await asyncio.sleep(0.05)
    finally:
        await reaper.stop()
        await store.aclose()
    return delays


async def measure(report: Report, plan: LeashPlan, redis_port: int) -> None:
    url = f"redis://{HOST}:{redis_port}/0"
    cost = await creation_cost(url, plan)
    report.add(
        "leash_creation_added_ms_p50",
        statistics.median(cost),
        note=f"admit + attach + lease, {plan.creations} creations",
    )
    report.add("leash_creation_added_ms_p99", percentile(cost, 0.99))
    delays = await hang_up_delays(url, plan)
    report.add(
        "reaper_hang_up_delay_s_p50",
        statistics.median(delays),
        HANG_UP_DELAY_TARGET,
        note=f"{plan.reaped_calls} calls, sweep every 0.25 s",
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
