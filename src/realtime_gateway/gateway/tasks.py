"""Stopping background loops for sure.

A library may swallow a cancellation (redis-py's connection pool can, when the cancel lands
while it releases a connection), and a loop that swallowed one runs on: its owner's shutdown
then waits for ever. Loops check `cancel_requested()` at the top of each turn, and owners stop
them with `cancel_and_wait`, which cancels again until the tasks have ended.
"""

from __future__ import annotations

import asyncio

RECANCEL_EVERY = 0.1


def cancel_requested() -> bool:
    """True once the running task was asked to stop, even if the cancellation was swallowed."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(*tasks: asyncio.Task[object] | None) -> None:
    """Cancel the tasks and wait until each has ended, cancelling again while any runs on."""
    pending = {task for task in tasks if task is not None and not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_EVERY)
    for ended in tasks:
        if ended is not None and not ended.cancelled():
            ended.exception()  # retrieved, so asyncio does not report it as never retrieved
