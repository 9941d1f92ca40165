"""`close_within`: a call's end, and so a stub's shutdown, waits a bounded time for its peer to
close, even when the close ignores its cancellation (which `asyncio.wait_for` would wait out)."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime_gateway.stub.peer import close_within


class StubbornPeer:
    """A peer whose close never ends and swallows every cancellation on the way."""

    def __init__(self) -> None:
        self.cancellations = 0
        self.release = asyncio.Event()

    async def close(self) -> None:
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancellations += 1


async def test_a_close_that_ignores_cancellation_is_left_behind_not_waited_for() -> None:
    peer = StubbornPeer()
    await asyncio.wait_for(close_within(peer_as_any(peer), 0.05), timeout=30)
    assert peer.cancellations == 1  # asked to stop once, then left to unwind on its own
    peer.release.set()  # let it end, so the test leaves no task behind
    await asyncio.sleep(0)


async def test_a_close_that_ends_in_time_is_waited_for() -> None:
    closed: list[bool] = []

    class PromptPeer:
        async def close(self) -> None:
            await asyncio.sleep(0)
            closed.append(True)

    await close_within(peer_as_any(PromptPeer()), 5.0)
    assert closed == [True]


def peer_as_any(peer: object) -> Any:
    return peer
