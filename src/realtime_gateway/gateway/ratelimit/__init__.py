"""Per-tenant session-creation limits: an exact sliding window, in process or shared in Redis.

`build_limiter(settings)` picks the backend; every backend answers a `Decision` (see `types`).
"""

from __future__ import annotations

import time

from realtime_gateway.gateway.ratelimit.memory import MemoryLimiter
from realtime_gateway.gateway.ratelimit.types import Clock, Decision, Limiter, Rates, make_decision
from realtime_gateway.gateway.settings import Settings

__all__ = [
    "Clock",
    "Decision",
    "Limiter",
    "MemoryLimiter",
    "Rates",
    "build_limiter",
    "make_decision",
]


def build_limiter(settings: Settings, *, clock: Clock = time.monotonic) -> Limiter:
    """The in-process limiter when no Redis is configured, else the shared Redis limiter."""
    from realtime_gateway.gateway.redisconn import redis_topology

    rates = Rates.from_settings(settings)
    topology = redis_topology(settings)
    if topology is None:
        return MemoryLimiter(rates, clock=clock)
    from realtime_gateway.gateway.ratelimit.redis_limiter import RedisLimiter

    return RedisLimiter(
        topology,
        rates,
        failure_mode=settings.limiter_failure_mode,
        clock=clock,
    )
