"""Limiter cost: per-decision latency of the in-process and the Redis limiter, and Redis round
trips per decision counted by the server itself (`INFO commandstats`)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bench.loadgen import summarize_ms
from bench.procs import HOST, Service, Stack, free_port, redis_service
from bench.report import Report, Target
from realtime_gateway.gateway.ratelimit import Decision, MemoryLimiter, Rates
from realtime_gateway.gateway.ratelimit.redis_limiter import SLIDING_WINDOW, RedisLimiter

ROUND_TRIP_TARGET = Target("==", 1.0)
TENANTS = 100
# Generous enough that every measured decision is an allowed one (the path that writes).
RATES = Rates(default=(1_000_000, 60), tenants={})
# What the script runs inside Redis: commandstats counts those too, but they are not round trips.
SCRIPT_COMMANDS = frozenset(
    name.lower() for name in re.findall(r"redis\.call\('([A-Za-z]+)'", SLIDING_WINDOW)
)
# What this benchmark itself sends to read and reset the counters.
OWN_COMMANDS = frozenset({"info", "config|resetstat", "config"})


@dataclass(frozen=True)
class LimiterPlan:
    memory_decisions: int = 50_000
    redis_decisions: int = 10_000
    concurrency: int = 16


async def time_decisions(
    hit: Callable[[str], Awaitable[Decision]], count: int
) -> tuple[list[float], int]:
    samples: list[float] = []
    denied = 0
    tenants = [f"tenant{index:03d}" for index in range(TENANTS)]
    for index in range(count):
        started = time.perf_counter()
        decision = await hit(tenants[index % TENANTS])
        samples.append(time.perf_counter() - started)
        denied += not decision.allowed
    return samples, denied


async def concurrent_rate(
    hit: Callable[[str], Awaitable[Decision]], count: int, width: int
) -> float:
    per_worker = count // width

    async def worker(slot: int) -> None:
        for _ in range(per_worker):
            await hit(f"tenant{slot:03d}")

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(slot) for slot in range(width))), 60.0)
    return per_worker * width / (time.perf_counter() - started)


def parse_commandstats(info: dict[str, Any]) -> dict[str, int]:
    """redis-py's parsed `INFO commandstats`: {"cmdstat_evalsha": {"calls": 10, ...}, ...}."""
    return {
        key.removeprefix("cmdstat_").lower(): int(value["calls"])
        for key, value in info.items()
        if key.startswith("cmdstat_") and isinstance(value, dict)
    }


async def measure(report: Report, plan: LimiterPlan, redis_port: int) -> None:
    memory = MemoryLimiter(RATES)
    await time_decisions(memory.hit, 1000)  # warm-up
    samples, denied = await time_decisions(memory.hit, plan.memory_decisions)
    summary = summarize_ms(samples)
    note = f"{plan.memory_decisions} decisions, {TENANTS} tenants, {denied} denied"
    report.add("limiter_memory_p50_us", summary["p50"] * 1000, note=note)
    report.add("limiter_memory_p99_us", summary["p99"] * 1000)

    url = f"redis://{HOST}:{redis_port}/0"
    admin = Redis(host=HOST, port=redis_port, decode_responses=True)
    limiter = RedisLimiter(url, RATES, failure_mode="deny")
    try:
        await time_decisions(limiter.hit, 500)  # warm-up: connections, SCRIPT LOAD
        await admin.config_resetstat()
        samples, denied = await time_decisions(limiter.hit, plan.redis_decisions)
        stats = parse_commandstats(await admin.info("commandstats"))
        summary = summarize_ms(samples)
        note = f"{plan.redis_decisions} sequential decisions, {denied} denied"
        report.add("limiter_redis_p50_us", summary["p50"] * 1000, note=note)
        report.add("limiter_redis_p99_us", summary["p99"] * 1000)
        client_commands = {
            name: calls
            for name, calls in stats.items()
            if name not in SCRIPT_COMMANDS and name not in OWN_COMMANDS
        }
        round_trips = sum(client_commands.values()) / plan.redis_decisions
        seen = ", ".join(f"{name}={calls}" for name, calls in sorted(client_commands.items()))
        report.add("redis_round_trips_per_decision", round_trips, ROUND_TRIP_TARGET, note=seen)
        inside = sum(stats.get(name, 0) for name in SCRIPT_COMMANDS) / plan.redis_decisions
        report.add("redis_commands_inside_script_per_decision", inside)
        rate = await concurrent_rate(limiter.hit, plan.redis_decisions, plan.concurrency)
        report.add(
            "limiter_redis_decisions_per_s", rate, note=f"{plan.concurrency} in flight, one loop"
        )
    finally:
        await limiter.aclose()
        await admin.aclose()


def run_limiter(report: Report, plan: LimiterPlan, stack: Stack) -> None:
    redis: Service = redis_service(free_port())
    redis.start(stack.workdir, timeout=10.0)
    try:
        try:
            import uvloop

            uvloop.run(measure(report, plan, redis.port))
        except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
            asyncio.run(measure(report, plan, redis.port))
    finally:
        redis.stop()
