"""The reaper: one per replica (its workers elect one, `replica_lock.py`). It wakes a few times
a second, asks the fleet's index which tenants have something due, and for those only claims
the due calls (deadline passed, budget spent, admission stale), acts on each claim in a task of
its own (so a slow provider stalls nobody), and tells the index when the tenant is next due.

A claim keeps other reapers off a call for `claim_ms` (longer than a hang-up may take); if the
claimer dies or the provider does not confirm, it lapses and any reaper tries again. Past its
deadline plus the grace, a call is ended even when the provider cannot be reached, so a dead
provider never holds a tenant's slot.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random

from realtime_gateway.gateway.calls.service import Calls
from realtime_gateway.gateway.calls.store import CallStore, Claim, Fleet, StoreUnavailable
from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.leash.replica_lock import ReplicaLock
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger("realtime_gateway.gateway.leash.reaper")

DEFAULT_INTERVAL = 0.25


class Reaper:
    def __init__(
        self, calls: Calls, *, interval: float = DEFAULT_INTERVAL, lock: ReplicaLock | None = None
    ) -> None:
        """`lock` elects one reaper among a replica's workers (None: this one reaps)."""
        self._calls = calls
        self._lock = lock
        self._interval = interval
        self._acting: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._jitter = random.Random()  # its own: the module's shared generator stays untouched

    async def sweep(self) -> None:
        """One pass over the tenants the index says are due, in each store that holds calls."""
        stores = [(self._calls.store, self._calls.fleet)]
        if self._calls.local is not self._calls.store:
            stores.append((self._calls.local, self._calls.local_fleet))
        for store, fleet in stores:
            try:
                await self._sweep(store, fleet)
            except StoreUnavailable as error:
                log.warning("reaper: store unavailable", extra={"error": str(error.__cause__)})

    async def _sweep(self, store: CallStore, fleet: Fleet) -> None:
        for due in await fleet.due_tenants():
            policy = self._calls.policies.for_tenant(due.tenant)
            found = await store.claim_due(due.tenant, policy, self._calls.config.claim_ms)
            for claim in found.claims:
                key = (claim.record.tenant, claim.record.call_id)
                if key not in self._acting:
                    task = asyncio.create_task(self._act(store, claim), name=f"reap-{key[1]}")
                    self._acting[key] = task
                    task.add_done_callback(functools.partial(_forget, self._acting, key))
            await fleet.settle(due, found.next_due_ms)

    async def _act(self, store: CallStore, claim: Claim) -> None:
        record = claim.record
        try:
            if claim.reason == "stale_admission":
                if record.provider_call_id:  # a phone call that nobody answered in time
                    await self._calls.give_up(record)
                await store.release(record.tenant, record.call_id)
                return
            reason = claim.reason
            await store.mark_ending(
                record.tenant, record.call_id, reason, self._calls.config.claim_ms
            )
            try:
                hung_up = await self._calls.hang_up(record, reason)
            except ProviderError as error:
                log.warning(
                    "hang-up failed",
                    extra={"call_id": record.call_id, "reason": reason, "error": str(error)},
                )
                hung_up = False
            # A WebSocket session relayed by another process is ended here in the store; its
            # relay sees the call is over at its next write and closes it.
            if hung_up or claim.past_grace or record.transport == "websocket":
                await self._calls.count_end(store, record, reason)
            # else: the claim lapses and a later sweep (any replica's) tries again
        except StoreUnavailable as error:
            log.warning("reaper: store failed acting on a claim", extra={"error": str(error)})
        except Exception as error:  # one bad call must not stop the reaper
            log.error("reaper: acting on a claim failed", extra={"error": type(error).__name__})

    async def run(self) -> None:
        while not cancel_requested():
            try:
                if self._lock is None or self._lock.try_take():
                    await self.sweep()
            except Exception as error:  # one bad record must not stop the reaper
                log.error("reaper: sweep failed", extra={"error": type(error).__name__})
            # Jitter: the replicas' reapers do not all ask Redis at the same instant.
            await asyncio.sleep(self._interval * self._jitter.uniform(0.8, 1.2))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="leash-reaper")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task, *self._acting.values())
        self._task = None
        if self._lock is not None:
            self._lock.release()


def _forget(
    tasks: dict[tuple[str, str], asyncio.Task[None]], key: tuple[str, str], _: object
) -> None:
    tasks.pop(key, None)
