"""The reaper: every replica runs one. Each sweep claims the calls that are due (deadline passed,
or the tenant's budget spent), hangs them up at the provider and counts their end once.

A claim keeps other replicas off a call for `claim_seconds`; if the claimer dies or the
provider does not confirm, the claim lapses and another sweep (any replica's) tries again.
Past its deadline plus the grace, a call is ended even when the provider cannot be reached, so
a dead provider never holds a tenant's slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from realtime_gateway.gateway.leash.policy import Policies
from realtime_gateway.gateway.leash.types import (
    DEFAULT_CLAIM_SECONDS,
    DEFAULT_GRACE_SECONDS,
    CallEnd,
    DueCall,
    LeashStore,
)
from realtime_gateway.gateway.redisconn import REDIS_FAILURES
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger("realtime_gateway.gateway.leash.reaper")

HangUp = Callable[[DueCall], Awaitable[None]]
OnEnd = Callable[[CallEnd], Awaitable[None]]

DEFAULT_INTERVAL = 0.25


class Reaper:
    def __init__(
        self,
        store: LeashStore,
        policies: Policies,
        hang_up: HangUp,
        on_end: OnEnd,
        *,
        interval: float = DEFAULT_INTERVAL,
        claim_seconds: float = DEFAULT_CLAIM_SECONDS,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self._store = store
        self._policies = policies
        self._hang_up = hang_up
        self._on_end = on_end
        self._interval = interval
        self._claim_seconds = claim_seconds
        longest = max(
            [policies.default.max_call_seconds]
            + [policy.max_call_seconds for policy in policies.tenants.values()]
        )
        # A tenant that admitted nothing for this long has no call left to reap.
        self._horizon = longest + grace_seconds + 3 * claim_seconds
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> list[CallEnd]:
        """One pass over every tenant that may have live calls; the ends this replica counted."""
        claims: list[DueCall] = []
        for tenant in await self._store.active_tenants(self._horizon):
            policy = self._policies.for_tenant(tenant)
            claims += await self._store.claim_due(tenant, policy, self._claim_seconds)
        finished = await asyncio.gather(*(self._finish(due) for due in claims))
        return [end for end in finished if end is not None]

    async def _finish(self, due: DueCall) -> CallEnd | None:
        try:
            await self._hang_up(due)
        except Exception as error:  # a provider failure must not stop the sweep
            log.warning(
                "hang-up failed",
                extra={
                    "tenant": due.tenant,
                    "call_id": due.call_id,
                    "reason": due.reason,
                    "error": type(error).__name__,
                    "past_grace": due.past_grace,
                },
            )
            if not due.past_grace:
                return None  # the claim lapses and a later sweep tries again
        end = await self._store.end(due.tenant, due.call_id, due.reason)
        if end is not None:
            try:
                await self._on_end(end)
            except Exception as error:  # the end is counted; its report must not stop us
                log.error("call end report failed", extra={"error": type(error).__name__})
        return end

    async def run(self) -> None:
        """Sweep until stopped; a Redis outage is logged and waited out."""
        while not cancel_requested():
            try:
                await self.sweep()
            except REDIS_FAILURES as error:
                log.warning("reaper: store unavailable", extra={"error": type(error).__name__})
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="leash-reaper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
