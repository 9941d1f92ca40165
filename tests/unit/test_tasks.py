"""Background loops stop even when a library swallows the cancellation meant for them."""

from __future__ import annotations

import asyncio

from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested


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
