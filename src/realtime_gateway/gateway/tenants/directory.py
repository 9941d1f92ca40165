"""What this replica knows of the runtime registry, kept fresh: it polls the registry's version
every `POLL_SECONDS` and, when it moved, reads the whole registry once and hands it to the
authenticator (keys, disabled tenants) and to the call service (policies). So a change made
through any replica holds on every replica within one poll and one read (well under 1 s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested
from realtime_gateway.gateway.tenants.registry import Snapshot, TenantRegistry

log = logging.getLogger("realtime_gateway.gateway.tenants")

POLL_SECONDS = 0.25

Listener = Callable[[Snapshot], None]


class TenantDirectory:
    def __init__(self, registry: TenantRegistry, config_tenants: frozenset[str]) -> None:
        """`config_tenants`: the tenants of the environment and the config file (read-only,
        and their names are not free for runtime tenants)."""
        self.registry = registry
        self.config_tenants = config_tenants
        self.snapshot = Snapshot(-1)
        self.listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    async def refresh(self, *, force: bool = False) -> Snapshot:
        """Read the registry again if its version moved (or `force`), and apply it."""
        if not force and await self.registry.version() == self.snapshot.version:
            return self.snapshot
        snapshot = await self.registry.snapshot()
        if snapshot.version != self.snapshot.version:
            self.snapshot = snapshot
            for listener in self.listeners:
                listener(snapshot)
        return self.snapshot

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tenant-directory")

    async def _run(self) -> None:
        failing = False
        while not cancel_requested():
            try:
                await self.refresh()
                if failing:
                    log.warning("tenant registry readable again")
                failing = False
            except CallsUnavailable:
                if not failing:  # what it read last stays in force meanwhile
                    log.error("tenant registry unreadable; keeping the last one read")
                failing = True
            except Exception:
                log.exception("tenant registry refresh failed")
            await asyncio.sleep(POLL_SECONDS)

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.registry.aclose()
