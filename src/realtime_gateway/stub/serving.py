"""Serve uvicorn apps on one event loop until SIGINT or SIGTERM, then stop them all and exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence

import uvicorn

START_TIMEOUT = 15.0


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to `serve_together`.

    uvicorn re-raises a captured SIGINT after shutdown (a KeyboardInterrupt, exit 130); a
    command that was asked to stop should stop with 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_together(
    servers: Sequence[uvicorn.Server], on_started: Callable[[], None] | None = None
) -> int:
    """Run `servers` until a signal or until one of them stops; 0 when all stopped cleanly."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.ensure_future(server.serve()) for server in servers]
    try:
        deadline = loop.time() + START_TIMEOUT
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks) or loop.time() > deadline:
                return 1
            await asyncio.sleep(0.02)
        if on_started is not None:
            on_started()
        # Either server stopping (a signal, or a crash) stops the others.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop()
        await asyncio.wait(tasks, timeout=START_TIMEOUT)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    failed = [t for t in tasks if not t.done() or t.cancelled() or t.exception() is not None]
    return 1 if failed else 0
