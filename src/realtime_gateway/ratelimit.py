"""Per-tenant session-creation limits: an exact sliding window, in process or shared in Redis.

`build_limiter(settings)` picks the backend; every backend answers a `Decision` that carries the
IETF draft RateLimit headers. The Redis backend lives in `ratelimit_redis`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .settings import Settings

Clock = Callable[[], float]

# Sweep every tenant's deque this often, so tenants that stopped calling do not linger.
SWEEP_EVERY = 1024


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str
    limit: int
    window: int
    remaining: int
    reset_after: int
    retry_after: int
    backend: str

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_after}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class Limiter(Protocol):
    async def hit(self, tenant: str) -> Decision:
        """Count one session creation for `tenant` if the window allows it."""
        ...

    async def check_ready(self) -> str | None:
        """None when the limiter can decide normally, else a short reason."""
        ...

    @property
    def degraded(self) -> bool: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Rates:
    """The default rate and per-tenant overrides, as (limit, window seconds)."""

    default: tuple[int, int]
    tenants: dict[str, tuple[int, int]]

    @classmethod
    def from_settings(cls, settings: Settings) -> Rates:
        return cls(default=settings.default_rate(), tenants=settings.tenant_rates())

    def for_tenant(self, tenant: str) -> tuple[str, int, int]:
        """(policy name, limit, window) that applies to `tenant`."""
        override = self.tenants.get(tenant)
        if override is not None:
            return "tenant", override[0], override[1]
        return "default", self.default[0], self.default[1]


def make_decision(
    *,
    allowed: bool,
    policy: str,
    limit: int,
    window: int,
    counted: int,
    until_oldest_leaves: float,
    backend: str,
) -> Decision:
    """Build a decision from the window's state *after* it: `counted` hits in it, the oldest
    of which leaves in `until_oldest_leaves` seconds."""
    reset_after = max(0, math.ceil(until_oldest_leaves)) if counted else 0
    # When denied the window is full, so a slot frees exactly when the oldest hit leaves.
    retry_after = 0 if allowed else max(1, reset_after)
    return Decision(
        allowed=allowed,
        policy=policy,
        limit=limit,
        window=window,
        remaining=max(0, limit - counted),
        reset_after=reset_after,
        retry_after=retry_after,
        backend=backend,
    )


class MemoryLimiter:
    """Exact sliding window in this process: a deque of hit times per tenant.

    `hit` never awaits, so on one event loop each decision is atomic without a lock. A deque
    holds at most `limit` entries (only allowed hits are stored) and empty deques are dropped.
    """

    def __init__(self, rates: Rates, *, clock: Clock = time.time, backend: str = "memory") -> None:
        self._rates = rates
        self._clock = clock
        self._backend = backend
        self._hits: dict[str, deque[float]] = {}
        self._decisions = 0

    @property
    def degraded(self) -> bool:
        return False

    async def hit(self, tenant: str) -> Decision:
        return self.decide(tenant)

    def decide(self, tenant: str) -> Decision:
        policy, limit, window = self._rates.for_tenant(tenant)
        now = self._clock()
        self._decisions += 1
        if self._decisions % SWEEP_EVERY == 0:
            self._sweep(now)
        hits = self._hits.get(tenant)
        if hits is None:
            hits = self._hits[tenant] = deque()
        _expire(hits, now - window)
        allowed = len(hits) < limit
        if allowed:
            hits.append(now)
        decision = make_decision(
            allowed=allowed,
            policy=policy,
            limit=limit,
            window=window,
            counted=len(hits),
            until_oldest_leaves=hits[0] + window - now if hits else 0.0,
            backend=self._backend,
        )
        if not hits:
            del self._hits[tenant]
        return decision

    def tracked_tenants(self) -> int:
        """How many tenants hold state (for tests and diagnostics)."""
        return len(self._hits)

    def _sweep(self, now: float) -> None:
        for tenant in list(self._hits):
            hits = self._hits[tenant]
            _expire(hits, now - self._rates.for_tenant(tenant)[2])
            if not hits:
                del self._hits[tenant]

    async def check_ready(self) -> str | None:
        return None

    async def aclose(self) -> None:
        self._hits.clear()


def _expire(hits: deque[float], cutoff: float) -> None:
    # A hit at exactly now - window has left: the window is (now - window, now].
    while hits and hits[0] <= cutoff:
        hits.popleft()


def build_limiter(settings: Settings, *, clock: Clock = time.time) -> Limiter:
    """The in-process limiter when no Redis is configured, else the shared Redis limiter."""
    rates = Rates.from_settings(settings)
    if settings.redis_url is None:
        return MemoryLimiter(rates, clock=clock)
    from .ratelimit_redis import RedisLimiter

    return RedisLimiter(
        settings.redis_url.get_secret_value(),
        rates,
        failure_mode=settings.limiter_failure_mode,
        clock=clock,
    )
