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
from realtime_gateway.stub.sip_ringing import PhoneCall
from realtime_gateway.stub.webhook_delivery import DEFAULT_RETRY_DELAYS, WebhookSender
from realtime_gateway.webhook_signing import WebhookSecret


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
    # Phone calls (`POST /_stub/sip/dial`): where the `*.incoming` webhooks go, signed with
    # this `whsec_...` secret, retried after each of these delays (OpenAI: up to 3 days).
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    webhook_timeout: float = 5.0  # seconds an attempt may take to be answered
    sip_ring_seconds: float = 30.0  # a call not answered by then ends `unanswered`
    # An accepted call's caller speaks once a sideband listens, or after this long without one.
    sip_caller_delay: float = 2.0

    def __post_init__(self) -> None:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("the stub's webhook URL needs a webhook secret (whsec_...)")
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
        self.phone_calls: dict[str, PhoneCall] = {}
        self.webhooks: WebhookSender | None = None
        if config.webhook_url is not None and config.webhook_secret is not None:
            self.webhooks = WebhookSender(
                config.webhook_url,
                WebhookSecret(config.webhook_secret),  # refuses a malformed secret now
                retry_delays=config.webhook_retry_delays,
                timeout=config.webhook_timeout,
                clock=self.now,
            )

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

    def ringing(self, call_id: str, kind: str) -> PhoneCall | None:
        """The phone call of this id and kind (`realtime` or `live`) while it rings."""
        phone = self.phone_calls.get(call_id)
        if phone is None or not phone.ringing or phone.record.kind != kind:
            return None
        return phone

    async def close_all(self) -> None:
        calls = list(self.active.values())
        if calls:
            await asyncio.gather(*(c.close("shutdown") for c in calls), return_exceptions=True)
        phones = list(self.phone_calls.values())
        if phones:
            await asyncio.gather(*(p.close() for p in phones), return_exceptions=True)
        if self.webhooks is not None:
            await self.webhooks.close()
