"""Background loops stop even when a library swallows the cancellation meant for them: the
helpers, and the gateway's loops that read a store (the tenant directory, usage webhooks)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested
from realtime_gateway.gateway.tenants.directory import TenantDirectory
from realtime_gateway.gateway.tenants.registry import MemoryRegistry
from realtime_gateway.gateway.usage_hooks.delivery import UsageWebhooks
from realtime_gateway.gateway.usage_hooks.outbox import Delivery, MemoryOutbox
from realtime_gateway.webhook_signing import WebhookSecret


async def swallowing_loop(turns: list[int]) -> None:
    """Like a loop whose Redis call swallows a cancellation, as redis-py's pool can."""
    while not cancel_requested():
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            pass  # swallowed: the loop would otherwise run on
        turns.append(1)


async def stubborn_loop(turns: list[int]) -> None:
    """Swallows every cancellation but one, and never asks whether it was told to stop."""
    swallowed = 0
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            swallowed += 1
            if swallowed > 2:
                raise
        turns.append(1)


async def test_a_loop_that_swallowed_its_cancellation_stops_at_its_next_turn() -> None:
    turns: list[int] = []
    task = asyncio.create_task(swallowing_loop(turns))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(cancel_and_wait(task), 2)
    assert task.done()
    settled = len(turns)
    await asyncio.sleep(0.05)
    assert len(turns) == settled  # nothing runs any more


async def test_cancel_and_wait_cancels_again_until_the_task_ends() -> None:
    turns: list[int] = []
    task = asyncio.create_task(stubborn_loop(turns))
    await asyncio.sleep(0.03)
    await asyncio.wait_for(cancel_and_wait(task, None), 2)
    assert task.cancelled()


async def test_a_plain_cancel_leaves_a_swallowing_loop_running() -> None:
    """Why the helper exists: one cancel and an await would wait for ever."""
    turns: list[int] = []
    task = asyncio.create_task(stubborn_loop(turns))
    await asyncio.sleep(0.03)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done
    await cancel_and_wait(task)


class SwallowingReads:
    """Store reads during which a cancellation is swallowed, as redis-py's pool can."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()

    async def read(self) -> None:
        self.reading.set()
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            pass
        self.reading.clear()


class SwallowingRegistry(MemoryRegistry):
    def __init__(self, reads: SwallowingReads) -> None:
        super().__init__()
        self.reads = reads

    async def version(self) -> int:
        await self.reads.read()
        return await super().version()


class SwallowingOutbox(MemoryOutbox):
    def __init__(self, reads: SwallowingReads) -> None:
        super().__init__()
        self.reads = reads

    async def take(self, consumer: str, count: int) -> list[Delivery]:
        await self.reads.read()
        return await super().take(consumer, count)


async def stop_while_reading(
    reads: SwallowingReads, start: Callable[[], None], aclose: Callable[[], Awaitable[None]]
) -> None:
    start()
    await asyncio.wait_for(reads.reading.wait(), 5)
    stopping = asyncio.create_task(aclose())  # the stop lands in a read, which swallows it
    done, _ = await asyncio.wait({stopping}, timeout=5)
    if not done:
        await cancel_and_wait(stopping)  # stop it for sure, then fail
    assert done, "the loop ran on after its stop"


async def test_the_tenant_directory_stops_though_its_registry_swallowed_the_cancellation() -> None:
    """A shutdown that waited for ever here kept the gateway's other loops running."""
    reads = SwallowingReads()
    directory = TenantDirectory(SwallowingRegistry(reads), frozenset())
    await stop_while_reading(reads, directory.start, directory.aclose)


async def test_usage_webhooks_stop_though_the_outbox_swallowed_the_cancellation() -> None:
    reads = SwallowingReads()
    secret, _ = WebhookSecret.generate()
    hooks = UsageWebhooks(SwallowingOutbox(reads), "http://127.0.0.1:9/hook", secret)
    await stop_while_reading(reads, hooks.start, hooks.aclose)
