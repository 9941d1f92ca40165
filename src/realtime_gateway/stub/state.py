"""The stub's configuration and its observable state (calls, mint counts, faults, clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from realtime_gateway.stub.call_faults import CallFaultSwitch
from realtime_gateway.stub.faults import FaultSwitch
from realtime_gateway.stub.peer import StubCall
from realtime_gateway.stub.records import CallRecord
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
    # Speak a greeting unasked when a call connects (OpenAI waits for `response.create`).
    greet: bool = False
    # How fast a Realtime WebSocket session streams its speech, in multiples of real time
    # (OpenAI's is about real time; tests may speed it up), and in chunks of how many ms.
    ws_audio_speed: float = 1.0
    ws_audio_chunk_ms: int = 20
    # A Live session closes with reason `expired` after this long (OpenAI's limit: 60 minutes).
    live_max_seconds: float = 3600.0
    clock: Callable[[], float] = field(default=time.time)

    def __post_init__(self) -> None:
        if not self.ws_audio_speed > 0:
            raise ValueError("ws_audio_speed must be positive")
        if not 10 <= self.ws_audio_chunk_ms <= 1000:
            raise ValueError("ws_audio_chunk_ms must be between 10 and 1000")


class StubState:
    """`app.state.stub`: what tests read and the hooks they pull."""

    def __init__(self, config: StubConfig) -> None:
        self.config = config
        self.calls: list[CallRecord] = []
        self.mint_count = 0  # secrets issued
        self.mint_requests = 0  # requests that reached a minting endpoint, faults included
        self.faults = FaultSwitch()
        self.call_faults = CallFaultSwitch()
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
        self.call_faults.clear()

    def record(self, call_id: str) -> CallRecord | None:
        """The record of a call (Realtime `rtc_...` or Live `live_...`), live or ended."""
        return next((record for record in self.calls if record.call_id == call_id), None)

    def live_call_ids(self) -> list[str]:
        return [record.call_id for record in self.calls if not record.ended]

    def end_reasons(self) -> dict[str, str | None]:
        """Every ended call's id and why it ended."""
        return {record.call_id: record.end_reason for record in self.calls if record.ended}

    def forget(self, call: StubCall) -> None:
        self.active.pop(call.record.call_id, None)

    async def close_all(self) -> None:
        calls = list(self.active.values())
        if calls:
            await asyncio.gather(*(c.close("shutdown") for c in calls), return_exceptions=True)
