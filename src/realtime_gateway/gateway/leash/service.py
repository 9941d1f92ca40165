"""The leash as the gateway uses it: admission with the limiter's failure mode, usage and ends
reported once, the ledger read back, and this replica's reaper loop.

    Leash.admit(tenant, call_id)      -> Admission, or 429 too_many_calls / quota_exceeded
    Leash.attach / release            name the upstream call / give back an unused slot
    Leash.add_usage / end             sideband figures / the end, counted and reported once
    Leash.status / usage              one call / the tenant's days (today first)
    Leash.start / stop                the reaper loop (every replica runs one)

Redis down at admission: `deny` answers 503 limiter_unavailable, `allow` admits uncounted,
`local` admits against this process's own memory store (whose calls its own reaper serves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from realtime_gateway.gateway.errors import LimiterUnavailable
from realtime_gateway.gateway.leash.memory_store import MemoryLeashStore
from realtime_gateway.gateway.leash.policy import Policies
from realtime_gateway.gateway.leash.reaper import DEFAULT_INTERVAL, HangUp, Reaper
from realtime_gateway.gateway.leash.report import LeashMetrics, report_call_end
from realtime_gateway.gateway.leash.types import (
    DEFAULT_CLAIM_SECONDS,
    DEFAULT_GRACE_SECONDS,
    Admission,
    CallEnd,
    CallStatus,
    DayUsage,
    DueCall,
    EndedReason,
    LeashStore,
)
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.redisconn import REDIS_FAILURES
from realtime_gateway.gateway.settings import Settings
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger("realtime_gateway.gateway.leash")

OnEnd = Callable[[CallEnd], Awaitable[None]]
USAGE_DAYS = 30
OWN_DEADLINE_KEEP_SECONDS = 3600.0


async def _nothing(end: CallEnd) -> None:
    return None


def build_store(settings: Settings, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> LeashStore:
    if not settings.redis_configured():
        return MemoryLeashStore(grace_seconds=grace_seconds)
    from realtime_gateway.gateway.leash.redis_store import RedisLeashStore
    from realtime_gateway.gateway.redisconn import redis_from_settings

    return RedisLeashStore(
        grace_seconds=grace_seconds, client=redis_from_settings(settings), owns_client=True
    )


class Leash:
    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics,
        hang_up: HangUp,
        *,
        store: LeashStore | None = None,
        on_end: OnEnd = _nothing,
        interval: float = DEFAULT_INTERVAL,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        """`hang_up` ends a due call at the provider; `on_end` hears every end this replica
        counted (the call store's record follows it)."""
        self.policies: Policies = settings.policies()
        self.metrics = LeashMetrics(metrics)
        self._failure_mode = settings.limiter_failure_mode
        self._owns_store = store is None
        self.store = store if store is not None else build_store(settings, grace_seconds)
        # Calls admitted while Redis failed (mode `local`) live here, served by the same reaper.
        self._local = MemoryLeashStore(grace_seconds=grace_seconds)
        self._on_end = on_end
        self._hang_up = hang_up
        # Deadlines of the calls this replica admitted, kept in process for a Redis outage.
        self._own: dict[tuple[str, str], float] = {}
        self._hung_locally: set[tuple[str, str]] = set()
        self._interval = interval
        self._reapers = [
            Reaper(s, self.policies, hang_up, self._report, grace_seconds=grace_seconds)
            for s in (
                (self.store,) if self.store.backend == "memory" else (self.store, self._local)
            )
        ]
        self._task: asyncio.Task[None] | None = None
        # Set by the sideband watcher: a call this replica created is watched from here.
        self.on_attach: Callable[[str, str], Awaitable[None]] | None = None

    async def _report(self, end: CallEnd) -> None:
        self._forget(end.tenant, end.call_id)
        report_call_end(self.metrics, end)
        await self._on_end(end)

    def _forget(self, tenant: str, call_id: str) -> None:
        self._own.pop((tenant, call_id), None)
        self._hung_locally.discard((tenant, call_id))

    async def _store_of(self, tenant: str, call_id: str) -> LeashStore:
        if self.store.backend != "memory" and await self._local.status(tenant, call_id):
            return self._local
        return self.store

    async def admit(self, tenant: str, call_id: str) -> Admission:
        policy = self.policies.for_tenant(tenant)
        try:
            admission = await self.store.admit(tenant, call_id, policy)
            self._own[tenant, call_id] = admission.deadline
        except REDIS_FAILURES as error:
            log.warning(
                "leash: store failed at admission; failure mode %r",
                self._failure_mode,
                extra={"tenant": tenant, "error": type(error).__name__},
            )
            if self._failure_mode == "deny":
                raise LimiterUnavailable("call limits unavailable") from error
            if self._failure_mode == "allow":
                now = time.time()
                return Admission(tenant, call_id, now, now + policy.max_call_seconds)
            admission = await self._local.admit(tenant, call_id, policy)
        return admission  # gateway_calls_active follows in the loop's next pass

    async def _live_count(self, tenant: str) -> int:
        with contextlib.suppress(*REDIS_FAILURES):
            return await self.store.live_count(tenant)
        return await self._local.live_count(tenant)

    async def attach(self, tenant: str, call_id: str, provider: str, provider_call: str) -> None:
        try:
            store = await self._store_of(tenant, call_id)
            await store.attach(tenant, call_id, provider, provider_call)
        except REDIS_FAILURES as error:  # the call runs; its deadline is still kept here
            log.warning("leash: could not name the upstream call", extra={"error": str(error)})
        if self.on_attach is not None:
            await self.on_attach(tenant, call_id)

    async def release(self, tenant: str, call_id: str) -> None:
        store = await self._store_of(tenant, call_id)
        await store.release(tenant, call_id)
        self._forget(tenant, call_id)

    async def add_usage(
        self,
        tenant: str,
        call_id: str,
        *,
        audio_seconds: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        store = await self._store_of(tenant, call_id)
        await store.add_usage(
            tenant,
            call_id,
            audio_seconds=audio_seconds,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )

    async def mark_ending(self, tenant: str, call_id: str, reason: EndedReason) -> None:
        """Call before hanging up: the provider's close that follows counts under `reason`."""
        store = await self._store_of(tenant, call_id)
        await store.mark_ending(tenant, call_id, reason, DEFAULT_CLAIM_SECONDS)

    async def end(
        self, tenant: str, call_id: str, reason: EndedReason, audio_seconds: float | None = None
    ) -> CallEnd | None:
        """Count the call's end once; None if it had already ended (or was never admitted)."""
        store = await self._store_of(tenant, call_id)
        end = await store.end(tenant, call_id, reason, audio_seconds)
        self._forget(tenant, call_id)
        if end is not None:
            await self._report(end)
            self.metrics.set_active(tenant, await self._live_count(tenant))
        return end

    async def status(self, tenant: str, call_id: str) -> CallStatus | None:
        store = await self._store_of(tenant, call_id)
        return await store.status(tenant, call_id)

    async def usage(self, tenant: str, days: int = USAGE_DAYS) -> list[DayUsage]:
        return await self.store.usage(tenant, days)

    async def budget_left(self, tenant: str) -> float | None:
        """Audio seconds the tenant has left today, its ended and live calls counted; None:
        no budget."""
        budget = self.policies.for_tenant(tenant).daily_audio_seconds
        if budget is None:
            return None
        spent = (await self.store.usage(tenant, 1))[0].audio_seconds
        for call_id in await self.store.live_calls(tenant):
            status = await self.store.status(tenant, call_id)
            if status is not None and status.state == "live":
                spent += status.seconds
        return max(0.0, round(budget - spent, 3))

    async def view(self, tenant: str, call_id: str) -> dict[str, Any]:
        """The leash's part of `GET /realtime_calls/{id}`: usage so far, budget left today."""
        body: dict[str, Any] = {"audio_seconds_left_today": await self.budget_left(tenant)}
        status = await self.status(tenant, call_id)
        if status is not None:
            body["usage"] = {
                "audio_seconds": round(status.seconds, 3),
                "tokens": status.tokens_in + status.tokens_out,
            }
        return body

    async def _loop(self) -> None:
        while not cancel_requested():
            for reaper in self._reapers:
                try:
                    await reaper.sweep()
                except REDIS_FAILURES as error:
                    log.warning("leash reaper: store failed", extra={"error": type(error).__name__})
                    if reaper is self._reapers[0]:
                        await self._own_deadlines()
                except Exception as error:  # one bad record must not stop the reaper
                    log.error("leash reaper: sweep failed", extra={"error": type(error).__name__})
            await self._refresh_active()
            self._prune_own()
            await asyncio.sleep(self._interval)

    def _prune_own(self) -> None:
        """Calls ended elsewhere leave their in-process deadline behind: drop the long past."""
        horizon = time.time() - OWN_DEADLINE_KEEP_SECONDS
        for key, deadline in list(self._own.items()):
            if deadline < horizon:
                self._forget(*key)

    async def _own_deadlines(self) -> None:
        """Redis down: this replica still hangs up the calls it created at their deadline (once
        each; the end is counted by whichever reaper claims the call when Redis is back)."""
        now = time.time()
        for key, deadline in list(self._own.items()):
            if deadline > now or key in self._hung_locally:
                continue
            self._hung_locally.add(key)
            due = DueCall(key[0], key[1], "max_duration", None, None, past_grace=False)
            try:
                await self._hang_up(due)
            except Exception as error:  # the shared reaper retries once Redis answers
                log.warning("in-process deadline: hang-up failed", extra={"error": str(error)})
                self._hung_locally.discard(key)

    async def _refresh_active(self) -> None:
        with contextlib.suppress(*REDIS_FAILURES):
            for tenant in await self.store.active_tenants(24 * 3600):
                self.metrics.set_active(tenant, await self.store.live_count(tenant))

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="leash")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        if self._owns_store:
            await self.store.aclose()
