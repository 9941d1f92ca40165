"""What a fleet costs Redis while nothing happens: 2 replicas of `serve --workers 2` on one
redis-server, 200 tenants and 1,000 live calls (synthetic admissions through the call store,
held by a holder this bench registers alive for the run, deadlines an hour away), then Redis's
own count of the commands it ran (`INFO commandstats`, those run inside scripts included) over
a quiet window, less its own `INFO`s. Target: at most 100 commands a second for the whole
fleet, whatever the number of live calls (each replica has one reaper, which reads only the
tenants that are due; holders beat once a second; no process scans calls it does not hold).

`python -m bench --only idle`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from bench.procs import HOST, Service, free_port, gateway_service, redis_service
from bench.report import Report, Target
from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.redis_fleet import RedisFleet
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.store import AdmitRequest
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.redisconn import make_client

IDLE_TARGET = Target("<=", 100.0)
SPEC = CallSpec("openai", "http://127.0.0.1:9/v1/realtime/calls", "gpt-realtime", "verse")
HOLDER = "bench-idle-holder"
HOLDER_TTL_MS = 600_000


@dataclass(frozen=True)
class IdlePlan:
    replicas: int = 2
    workers: int = 2
    tenants: int = 200
    calls: int = 1000
    settle: float = 5.0  # after the replicas start: their first beats and sweeps
    window: float = 10.0


async def admit_calls(url: str, plan: IdlePlan) -> None:
    store = RedisCallStore(make_client(url), owns_client=True)
    fleet = RedisFleet(store)
    policy = TenantPolicy(max_call_seconds=3600, max_concurrent_calls=plan.calls)
    # The synthetic calls' holder: alive for the whole run with one beat, so no replica takes
    # its calls over (that would open a sideband per call) and it adds nothing to the window.
    await fleet.beat(HOLDER, HOLDER_TTL_MS, first=True)
    try:
        for index in range(plan.calls):
            tenant = f"tenant{index % plan.tenants:03d}"
            request = AdmitRequest(
                tenant=tenant,
                call_id="call_" + secrets.token_hex(12),
                transport="webrtc",
                policy=policy,
                attach_window_ms=20_000,
                spec=SPEC,
            )
            await fleet.touch(tenant)
            await store.admit(request)
            await store.attach(tenant, request.call_id, f"rtc_{index}", HOLDER)
    finally:
        await store.aclose()


def command_counts(redis: Redis) -> dict[str, int]:
    stats = redis.info("commandstats")
    return {
        k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"
    }


def run_idle(report: Report, plan: IdlePlan, workdir: Path) -> None:
    redis_port = free_port()
    redis = redis_service(redis_port)
    redis.start(workdir)
    url = f"redis://{HOST}:{redis_port}/0"
    replicas: list[Service] = []
    try:
        asyncio.run(admit_calls(url, plan))
        for index in range(plan.replicas):
            replica = gateway_service(free_port(), free_port())
            replica.name = f"gateway-idle-{index}"
            replica.env.update({"GATEWAY_REDIS_URL": url, "GATEWAY_WORKERS": str(plan.workers)})
            replica.start(workdir)
            replicas.append(replica)
        client = Redis(host=HOST, port=redis_port)

        time.sleep(plan.settle)
        counts_before, started = command_counts(client), time.monotonic()
        time.sleep(plan.window)
        counts_after, elapsed = command_counts(client), time.monotonic() - started
        delta = {k: n - counts_before.get(k, 0) for k, n in counts_after.items()}
        before, after = 0, sum(delta.values())
        busiest = sorted(((n, k) for k, n in delta.items() if n), reverse=True)[:4]
        per_second = (after - before) / elapsed
        live = int(client.eval("return #redis.call('keys', 'rtg:*:call:*')", 0))
        client.close()
        report.add("idle_redis_commands_per_s", per_second, IDLE_TARGET)
        report.add("idle_live_calls", live)
        print(
            f"# idle: {plan.replicas} replicas x {plan.workers} workers, {plan.tenants} tenants, "
            f"{plan.calls} live calls; {after - before} commands in {elapsed:.1f} s; most: "
            + ", ".join(f"{k} {n}" for n, k in busiest),
            flush=True,
        )
    finally:
        for replica in replicas:
            replica.stop()
        redis.stop()
