"""The sideband watcher: every gateway process runs one. It holds the provider sideband of
each live call this process holds (the calls it made, and those it took over), reads their
usage into the call record and records `provider_closed` when the provider ends the call.

It beats in the fleet's holders' registry once a second. When another holder's beats stop, the
registry hands that dead holder to one live watcher, which takes its calls over: it holds their
sidebands from then on, and ends the WebSocket sessions the dead process relayed (they died
with it), billed up to its last beat. A watcher that finds itself presumed dead (paused too
long) lets go of everything and joins again under a new name.

Idle cost: one Redis command a second per process, whatever the number of calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets

from realtime_gateway.gateway.calls.record import CallRecord
from realtime_gateway.gateway.calls.service import Calls
from realtime_gateway.gateway.calls.store import DeadHolder, StoreUnavailable
from realtime_gateway.gateway.leash.sideband import CallGone, OpenSideband, SidebandDropped
from realtime_gateway.gateway.providers.registry import provider_named
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger("realtime_gateway.gateway.leash.watcher")

BEAT_SECONDS = 1.0
HOLDER_TTL_MS = 4000
REATTACH_SECONDS = 0.5


def new_holder() -> str:
    return "holder-" + secrets.token_hex(8)


class SidebandWatcher:
    def __init__(
        self,
        calls: Calls,
        open_sideband: OpenSideband,
        *,
        beat_seconds: float = BEAT_SECONDS,
        holder_ttl_ms: int = HOLDER_TTL_MS,
        reattach_seconds: float = REATTACH_SECONDS,
    ) -> None:
        self._calls = calls
        self._open = open_sideband
        self._beat_seconds = beat_seconds
        self._ttl_ms = holder_ttl_ms
        self._reattach = reattach_seconds
        self.holder = new_holder()
        self._registered = False
        self._held: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._backstops: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> set[tuple[str, str]]:
        """(tenant, call id) of the sidebands this process holds now."""
        return set(self._held)

    async def hold(self, record: CallRecord) -> None:
        """Hold a live call's sideband (a call this process made or took over)."""
        key = (record.tenant, record.call_id)
        if record.transport != "websocket" and key not in self._held:
            task = asyncio.create_task(self._hold(record), name=f"sideband-{record.call_id}")
            self._held[key] = task
            task.add_done_callback(functools.partial(_forget, self._held, key))
            backstop = asyncio.create_task(self._backstop(record), name=f"backstop-{key[1]}")
            self._backstops[key] = backstop
            backstop.add_done_callback(functools.partial(_forget, self._backstops, key))

    async def _backstop(self, record: CallRecord) -> None:
        """With the store down, no reaper can see the deadline: the holder hangs its call up
        itself when the call's allowed length has passed since it went live (measured here as
        a duration; the reaper counts the end once the store answers again)."""
        await asyncio.sleep((record.deadline_ms - record.started_ms) / 1000)
        store = await self._calls.store_of(record)
        try:
            await store.get(record.tenant, record.call_id)
            return  # the store answers: the reapers have it
        except StoreUnavailable:
            pass
        log.warning(
            "store down at a call's deadline: hanging up", extra={"call_id": record.call_id}
        )
        with contextlib.suppress(Exception):
            await self._calls.hang_up(record, "max_duration")

    async def _hold(self, record: CallRecord) -> None:
        """Read the sideband until the call ends; attach again while the socket drops."""
        try:
            await self._read_until_over(record)
        finally:
            backstop = self._backstops.get((record.tenant, record.call_id))
            if backstop is not None and backstop is not asyncio.current_task():
                backstop.cancel()

    async def _read_until_over(self, record: CallRecord) -> None:
        store = await self._calls.store_of(record)
        while not cancel_requested():
            try:
                final = await self._read(record)
            except CallGone:
                final = None
            except SidebandDropped as error:
                log.info("sideband dropped", extra={"call_id": record.call_id, "error": str(error)})
                await asyncio.sleep(self._reattach)
                with contextlib.suppress(StoreUnavailable):
                    latest = await store.get(record.tenant, record.call_id)
                    if latest is None or not latest.live or latest.holder != self.holder:
                        return  # over, or held by another now
                continue
            except StoreUnavailable:
                await asyncio.sleep(self._reattach)
                continue
            try:
                await self._calls.count_end(store, record, "provider_closed", final_audio_ms=final)
            except StoreUnavailable:
                log.warning("sideband: could not record the end", extra={"call_id": record.call_id})
            return

    async def _read(self, record: CallRecord) -> int | None:
        """Usage until the provider closes; the provider's last audio figure, if it gave one."""
        store = await self._calls.store_of(record)
        provider = provider_named(record.spec.provider)
        final: int | None = None
        async for event in self._open(record):
            usage = provider.usage_of(event)
            if usage is not None:
                if usage.audio_ms is not None:
                    final = usage.audio_ms
                await store.add_usage(record.tenant, record.call_id, usage)
        return final

    async def beat(self) -> None:
        """Say this process is alive; take over the dead holders the registry hands us."""
        fleet = self._calls.fleet
        beat = await fleet.beat(self.holder, self._ttl_ms, first=not self._registered)
        self._registered = True
        if not beat.alive:
            log.warning("this holder was presumed dead; letting its calls go")
            await cancel_and_wait(*self._held.values(), *self._backstops.values())
            self.holder, self._registered = new_holder(), False
            return
        for dead in beat.dead:
            await self._take_over(dead)

    async def _take_over(self, dead: DeadHolder) -> None:
        fleet = self._calls.fleet
        for tenant in await fleet.indexed_tenants():
            for record in await fleet.adopt(tenant, [dead.holder], self.holder):
                if record.transport == "websocket":  # it died with its relay
                    await self._calls.count_end(
                        self._calls.store, record, "gateway_hangup", until_ms=dead.last_beat_ms
                    )
                else:
                    await self.hold(record)
        await fleet.bury(dead.holder)
        log.info("took over a dead holder's calls", extra={"holder": dead.holder})

    async def _loop(self) -> None:
        while not cancel_requested():
            try:
                await self.beat()
            except StoreUnavailable as error:
                log.warning("watcher: store unavailable", extra={"error": str(error.__cause__)})
            except Exception as error:  # one bad record must not stop the watcher
                log.error("watcher: beat failed", extra={"error": type(error).__name__})
            await asyncio.sleep(self._beat_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sideband-watcher")

    async def aclose(self) -> None:
        """Stop holding; the fleet takes this process's calls over at once (a graceful stop
        ends no call)."""
        await cancel_and_wait(self._task, *self._held.values(), *self._backstops.values())
        with contextlib.suppress(StoreUnavailable):
            await self._calls.fleet.let_go(self.holder)


def _forget(
    tasks: dict[tuple[str, str], asyncio.Task[None]], key: tuple[str, str], _: object
) -> None:
    tasks.pop(key, None)
