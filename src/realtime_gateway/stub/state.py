"""The stub's configuration and its observable state (calls, mint counts, faults, clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from realtime_gateway.stub.faults import FaultSwitch
from realtime_gateway.stub.peer import CallRecord, StubCall
from realtime_gateway.stub.secrets import SecretStore


@dataclass
class StubConfig:
    api_key: str
    loopback_ice: bool = False
    max_call_seconds: float = 120.0
    # False forces the synthesized voice even where espeak-ng is installed.
    use_espeak: bool = True
    # Answer each time the caller stops speaking, as server_vad with create_response does.
    reply_on_speech: bool = False
    clock: Callable[[], float] = field(default=time.time)


class StubState:
    """`app.state.stub`: what tests read and the hooks they pull."""

    def __init__(self, config: StubConfig) -> None:
        self.config = config
        self.calls: list[CallRecord] = []
        self.mint_count = 0  # secrets issued
        self.mint_requests = 0  # requests that reached a minting endpoint, faults included
        self.faults = FaultSwitch()
        self._clock_offset = 0.0
        self.secrets = SecretStore(self.now)
        self.active: dict[str, StubCall] = {}

    def now(self) -> float:
        return self.config.clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the stub's clock forward, so secrets expire without waiting."""
        self._clock_offset += seconds

    def set_fault(
        self, status: int | None = None, delay: float = 0.0, malformed: bool = False
    ) -> None:
        self.faults.set(status=status, delay=delay, malformed=malformed)

    def clear_faults(self) -> None:
        self.faults.clear()

    def forget(self, call: StubCall) -> None:
        self.active.pop(call.record.call_id, None)

    async def close_all(self) -> None:
        calls = list(self.active.values())
        if calls:
            await asyncio.gather(*(c.close("shutdown") for c in calls), return_exceptions=True)
