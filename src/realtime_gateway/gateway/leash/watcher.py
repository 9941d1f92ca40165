"""The sideband watcher: every replica runs one. For each live brokered call, the replica that
holds the call's lease holds its provider sideband, reads its usage into the ledger and records
`provider_closed` when the provider ends the call. When the holder dies its lease lapses and
another replica's watcher attaches in its place.

Usage read: Realtime `response.done` -> `response.usage` input/output tokens; Live
`session.usage.updated` and `session.closed` -> cumulative `usage.seconds`. The budget itself is
enforced by the reaper, which counts these figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from realtime_gateway.gateway.calls.records import CallRecord
from realtime_gateway.gateway.calls.store import CallStore
from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.leash.lease import Leases
from realtime_gateway.gateway.leash.service import Leash
from realtime_gateway.gateway.leash.sideband import OpenSideband, SidebandDropped
from realtime_gateway.gateway.redisconn import REDIS_FAILURES
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger("realtime_gateway.gateway.leash.watcher")

# Redis failing, as the leash's store and the call store (which wraps it) report it.
STORE_FAILURES: tuple[type[BaseException], ...] = (*REDIS_FAILURES, CallsUnavailable)

DEFAULT_LEASE_SECONDS = 5.0
DEFAULT_SCAN_INTERVAL = 0.5
HORIZON_SECONDS = 2 * 86400
# The replica that created a call attaches at once; the others leave a new call to it this long.
CREATOR_FIRST_SECONDS = 2.0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class SidebandWatcher:
    def __init__(
        self,
        leash: Leash,
        calls: CallStore,
        leases: Leases,
        open_sideband: OpenSideband,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        interval: float = DEFAULT_SCAN_INTERVAL,
    ) -> None:
        self._leash = leash
        self._calls = calls
        self._leases = leases
        self._open = open_sideband
        self._lease_seconds = lease_seconds
        self._interval = interval
        self._held: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._records: dict[tuple[str, str], CallRecord] = {}
        self._task: asyncio.Task[None] | None = None

    def record_of(self, tenant: str, call_id: str) -> CallRecord | None:
        """The record of a call whose sideband this replica holds (known with Redis down)."""
        return self._records.get((tenant, call_id))

    @property
    def held(self) -> set[tuple[str, str]]:
        """(tenant, call id) of the sidebands this replica holds now."""
        return set(self._held)

    async def scan(self) -> None:
        """Take the lease of every live call nobody holds, and attach to it."""
        for tenant in await self._leash.store.active_tenants(HORIZON_SECONDS):
            for call_id in await self._leash.store.live_calls(tenant):
                if (tenant, call_id) in self._held:
                    continue
                record = await self._calls.get(tenant, call_id)
                if record is None or record.status != "live":
                    continue
                if record.started_at > time.time() - CREATOR_FIRST_SECONDS:
                    continue
                await self._take(record)

    async def adopt(self, tenant: str, call_id: str) -> None:
        """The call this replica just created: attach to its sideband now (or let a scan)."""
        with contextlib.suppress(*STORE_FAILURES):
            record = await self._calls.get(tenant, call_id)
            if (
                record is not None
                and record.status == "live"
                and (tenant, call_id) not in self._held
            ):
                await self._take(record)

    async def _take(self, record: CallRecord) -> None:
        if await self._leases.take(record.tenant, record.call_id):
            task = asyncio.create_task(self._hold(record), name=f"sideband-{record.call_id}")
            self._held[record.tenant, record.call_id] = task
            self._records[record.tenant, record.call_id] = record

    async def _hold(self, record: CallRecord) -> None:
        key = (record.tenant, record.call_id)
        renewing = asyncio.create_task(self._renew(record))
        reading = asyncio.create_task(self._read(record))
        final_seconds: float | None = None
        try:
            done, _ = await asyncio.wait({reading, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if reading not in done:  # the lease was lost: another replica holds the call now
                return
            final_seconds = reading.result()
            ended = await self._leash.end(
                record.tenant, record.call_id, "provider_closed", audio_seconds=final_seconds
            )
            log.info(
                "sideband closed by the provider",
                extra={"call_id": record.call_id, "counted": ended is not None},
            )
        except SidebandDropped as error:
            log.warning("sideband dropped", extra={"call_id": record.call_id, "error": str(error)})
        except STORE_FAILURES as error:
            log.warning("sideband: store failed", extra={"error": type(error).__name__})
        finally:
            # Lease lost, call ended, or this replica stopping: neither task outlives the hold
            # (a reading left running would fail alone when the sideband closes at exit).
            await cancel_and_wait(renewing, reading)
            self._held.pop(key, None)
            self._records.pop(key, None)
            with contextlib.suppress(*REDIS_FAILURES):
                await self._leases.let_go(record.tenant, record.call_id)

    async def _renew(self, record: CallRecord) -> None:
        """Returns when the lease is lost."""
        while not cancel_requested():
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                if not await self._leases.renew(record.tenant, record.call_id):
                    return
            except REDIS_FAILURES:
                continue  # keep holding; the lease decides once Redis answers again

    async def _read(self, record: CallRecord) -> float | None:
        """Reads usage until the provider closes; the provider's final audio seconds, if any."""
        final: float | None = None
        async for event in self._open(record):
            kind = event["type"]
            usage = event.get("usage")
            if kind == "response.done":
                response = event.get("response")
                usage = response.get("usage") if isinstance(response, dict) else None
                if isinstance(usage, dict):
                    await self._leash.add_usage(
                        record.tenant,
                        record.call_id,
                        tokens_in=int(_number(usage.get("input_tokens")) or 0),
                        tokens_out=int(_number(usage.get("output_tokens")) or 0),
                    )
            elif kind in ("session.usage.updated", "session.closed") and isinstance(usage, dict):
                seconds = _number(usage.get("seconds"))
                if seconds is not None:
                    final = seconds
                    await self._leash.add_usage(
                        record.tenant, record.call_id, audio_seconds=seconds
                    )
        return final

    async def _loop(self) -> None:
        while not cancel_requested():
            try:
                await self.scan()
            except STORE_FAILURES as error:
                log.warning("sideband watcher: store failed", extra={"error": type(error).__name__})
            except Exception as error:  # one bad record must not stop the watcher
                log.error("sideband watcher: scan failed", extra={"error": type(error).__name__})
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sideband-watcher")

    async def aclose(self) -> None:
        tasks = [t for t in (self._task, *self._held.values()) if t is not None]
        await cancel_and_wait(*tasks)
        self._held.clear()
