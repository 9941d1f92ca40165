"""The outbox of usage webhooks: what it promises (`Outbox`) and the in-process one.

An event is appended once (its `webhook-id` fixed then), taken by one delivery loop at a time,
and then done, put back for later (a retry: same id, one more attempt), or given up (kept in the
failures, for the admin to see and queue again)."""

from __future__ import annotations

import heapq
import itertools
import json
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    entry: str  # where the outbox holds it (a stream entry id); changes on every retry
    event_id: str  # the `webhook-id`: the same on every attempt
    payload: str
    attempts: int  # attempts made before this one


@dataclass(frozen=True)
class Failure:
    event_id: str
    payload: str
    attempts: int
    error: str
    failed_ms: int

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Failure:
        return cls(**json.loads(text))


class Outbox(Protocol):
    backend: str

    async def now_ms(self) -> int: ...

    async def append(self, event_id: str, payload: str) -> None: ...

    async def take(self, consumer: str, count: int) -> list[Delivery]:
        """New events, retries now due, and events another loop took and left (its process
        died) for longer than the claim time."""
        ...

    async def done(self, delivery: Delivery) -> None: ...

    async def retry_at(self, delivery: Delivery, due_ms: int) -> None: ...

    async def give_up(self, delivery: Delivery, error: str) -> None: ...

    async def failures(self) -> list[Failure]: ...

    async def pending(self) -> int:
        """Events not yet delivered (new, being delivered, or waiting for a retry)."""
        ...

    async def requeue(self, event_id: str) -> bool:
        """A failure queued again, its attempts counted afresh; False if there is none."""
        ...

    async def aclose(self) -> None: ...


class MemoryOutbox:
    """One process's outbox (no Redis): the same rules; lost with the process."""

    backend = "memory"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._ready: list[Delivery] = []
        self._later: list[tuple[int, int, Delivery]] = []
        self._taken: dict[str, Delivery] = {}
        self._failed: dict[str, Failure] = {}

    async def now_ms(self) -> int:
        return int(time.time() * 1000)  # one process: its own clock is the only one

    def _entry(self) -> str:
        return str(next(self._ids))

    async def append(self, event_id: str, payload: str) -> None:
        self._ready.append(Delivery(self._entry(), event_id, payload, 0))

    async def take(self, consumer: str, count: int) -> list[Delivery]:
        now = await self.now_ms()
        while self._later and self._later[0][0] <= now:
            self._ready.append(heapq.heappop(self._later)[2])
        taken, self._ready = self._ready[:count], self._ready[count:]
        self._taken.update((d.entry, d) for d in taken)
        return taken

    async def done(self, delivery: Delivery) -> None:
        self._taken.pop(delivery.entry, None)

    async def retry_at(self, delivery: Delivery, due_ms: int) -> None:
        self._taken.pop(delivery.entry, None)
        again = Delivery(self._entry(), delivery.event_id, delivery.payload, delivery.attempts + 1)
        heapq.heappush(self._later, (due_ms, int(again.entry), again))

    async def give_up(self, delivery: Delivery, error: str) -> None:
        self._taken.pop(delivery.entry, None)
        self._failed[delivery.event_id] = Failure(
            delivery.event_id, delivery.payload, delivery.attempts + 1, error, await self.now_ms()
        )

    async def failures(self) -> list[Failure]:
        return sorted(self._failed.values(), key=lambda f: f.failed_ms)

    async def pending(self) -> int:
        return len(self._ready) + len(self._later) + len(self._taken)

    async def requeue(self, event_id: str) -> bool:
        failure = self._failed.pop(event_id, None)
        if failure is None:
            return False
        self._ready.append(Delivery(self._entry(), event_id, failure.payload, 0))
        return True

    async def aclose(self) -> None:
        return None
