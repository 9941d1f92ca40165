"""What every limiter answers: a `Decision` with the IETF draft RateLimit headers, the `Limiter`
protocol, and the per-tenant `Rates` it applies."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from realtime_gateway.gateway.settings import Settings

Clock = Callable[[], float]


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
    # Names the counted hit (its time in memory, its member in Redis) so it can be refunded.
    ticket: str = ""

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

    async def refund(self, tenant: str, decision: Decision) -> None:
        """Uncount the hit `decision` allowed (the provider failed; the tenant got nothing).
        Never raises: a refund that cannot be made leaves the hit counted."""
        ...

    async def check_ready(self) -> str | None:
        """None when the limiter can decide normally, else a short reason."""
        ...

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
    ticket: str = "",
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
        ticket=ticket if allowed else "",
    )
