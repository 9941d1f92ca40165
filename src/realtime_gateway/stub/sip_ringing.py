"""A phone call at OpenAI's side while it rings: its webhook going out and its ring timer running,
until the app accepts, rejects or hangs up, or nobody answers within the ring time. Once accepted
the call itself is a `StubCall` (`sip_answer.py`); this keeps the webhook's deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from realtime_gateway.stub.records import CallRecord, SipDetails
from realtime_gateway.stub.sip_dial import Dial
from realtime_gateway.stub.webhook_delivery import WebhookSender

logger = logging.getLogger(__name__)


class PhoneCall:
    def __init__(self, record: CallRecord, dial: Dial) -> None:
        if record.sip is None:
            raise ValueError("a phone call's record needs its SipDetails")
        self.record = record
        self.sip: SipDetails = record.sip
        self.dial = dial
        self._delivery: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @property
    def ringing(self) -> bool:
        return self.sip.outcome == "ringing"

    @property
    def delivering(self) -> bool:
        """The webhook is still being delivered or retried."""
        return self._delivery is not None and not self._delivery.done()

    def ring(self, sender: WebhookSender, event: dict[str, Any], ring_seconds: float) -> None:
        """Start delivering the event and the ring timer (on the running loop)."""
        self._delivery = _spawn(self._deliver(sender, event))
        self._timer = _spawn(self._time_out(ring_seconds))

    async def _deliver(self, sender: WebhookSender, event: dict[str, Any]) -> None:
        # Retries stop once the call stops ringing; an attempt in flight is not cut off (an app
        # may accept from inside its webhook handler, then answer the delivery 200).
        delivered = await sender.deliver(
            event, self.sip.webhook_id, self.sip.deliveries, lambda: self.ringing
        )
        self.sip.delivered = delivered

    async def _time_out(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stop_ringing("unanswered", end_reason="unanswered")

    def stop_ringing(self, outcome: str, *, end_reason: str | None) -> bool:
        """The ringing is over (`outcome`); with an `end_reason` so is the call (every answer but
        `accepted`). False when it had already stopped."""
        if not self.ringing:
            return False
        self.sip.outcome = outcome
        timer = self._timer
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        if end_reason is not None:
            self.record.end_reason = end_reason
            self.record.ended = True
        return True

    async def close(self) -> None:
        """The stub is stopping: no more ringing, no more deliveries."""
        self.stop_ringing("hung_up", end_reason="shutdown")
        tasks = [task for task in (self._delivery, self._timer) if task is not None]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def _spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coro)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("phone call task failed: %r", task.exception())
