"""The in-process limiter: an exact sliding window per tenant, for one replica."""

from __future__ import annotations

import contextlib
import time
from collections import deque

from realtime_gateway.gateway.ratelimit.types import Clock, Decision, Rates, make_decision

# Sweep every tenant's deque this often, so tenants that stopped calling do not linger.
SWEEP_EVERY = 1024


class MemoryLimiter:
    """Exact sliding window in this process: a deque of hit times per tenant.

    `hit` never awaits, so on one event loop each decision is atomic without a lock. A deque
    holds at most `limit` entries (only allowed hits are stored) and empty deques are dropped.
    Times come from the monotonic clock: a wall-clock step backwards (NTP, an operator) would
    make stored hits look future ones and lock tenants out for as long as the step.
    """

    def __init__(
        self, rates: Rates, *, clock: Clock = time.monotonic, backend: str = "memory"
    ) -> None:
        self._rates = rates
        self._clock = clock
        self._backend = backend
        self._hits: dict[str, deque[float]] = {}
        self._decisions = 0

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
            ticket=repr(now),
        )
        if not hits:
            del self._hits[tenant]
        return decision

    async def refund(self, tenant: str, decision: Decision) -> None:
        self.uncount(tenant, decision)

    def uncount(self, tenant: str, decision: Decision) -> None:
        """Remove the hit `decision` counted, if it is still in the window."""
        hits = self._hits.get(tenant)
        if not decision.ticket or hits is None:
            return
        # Hits with the same time are interchangeable: removing any one of them is exact.
        with contextlib.suppress(ValueError):
            hits.remove(float(decision.ticket))
        if not hits:
            del self._hits[tenant]

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
