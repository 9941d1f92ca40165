"""Each call's end as a `call.ended` event: appended to the outbox by the `calls.on_end` hook
(one Redis write, the same cost as the ledger's), and POSTed by a background loop on every
replica, signed with Standard Webhooks (`webhook_signing.py`). A delivery that fails (no 2xx,
no answer within the timeout) is retried with backoff and the same `webhook-id`; after
`MAX_ATTEMPTS` it is kept as a failure for the admin, who can queue it again."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

import aiohttp

from realtime_gateway.gateway.calls.record import iso_from_ms
from realtime_gateway.gateway.calls.store import CallEnd
from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested
from realtime_gateway.gateway.usage_hooks.outbox import Delivery, Outbox
from realtime_gateway.webhook_signing import WebhookSecret

log = logging.getLogger("realtime_gateway.gateway.usage_hooks")

EVENT_TYPE = "call.ended"
MAX_ATTEMPTS = 10
BASE_BACKOFF_SECONDS = 0.5  # then 1, 2, 4 ... s
MAX_BACKOFF_SECONDS = 600.0
POLL_SECONDS = 0.2
BATCH = 16
TIMEOUT_SECONDS = 10.0


def backoff_ms(attempts: int, base: float = BASE_BACKOFF_SECONDS) -> int:
    """Wait before the attempt after `attempts` failed ones."""
    return int(min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1)) * 1000)


def call_ended_event(end: CallEnd) -> tuple[str, str]:
    """The event's id (the `webhook-id` of every attempt) and its JSON body."""
    event_id = "evt_" + secrets.token_hex(12)
    body = {
        "object": "event",
        "id": event_id,
        "type": EVENT_TYPE,
        "created_at": end.ended_ms // 1000,
        "data": {
            "tenant": end.tenant,
            "call_id": end.call_id,
            "transport": end.transport,
            "ended_reason": end.reason,
            "started_at": iso_from_ms(end.started_ms),
            "ended_at": iso_from_ms(end.ended_ms),
            "audio_seconds": round(end.seconds, 3),
            "tokens": {"input": end.tokens_in, "output": end.tokens_out},
        },
    }
    return event_id, json.dumps(body, separators=(",", ":"))


class UsageWebhooks:
    def __init__(
        self,
        outbox: Outbox,
        url: str,
        secret: WebhookSecret,
        *,
        consumer: str = "",
        base_backoff: float = BASE_BACKOFF_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.url = url
        self._secret = secret
        self.consumer = consumer or "replica-" + secrets.token_hex(6)
        self._base = base_backoff
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def on_end(self, end: CallEnd) -> None:
        """The `calls.on_end` hook: the event into the outbox; nothing is sent here."""
        event_id, payload = call_ended_event(end)
        await self.outbox.append(event_id, payload)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-webhooks")

    async def _run(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS), auto_decompress=False
        )
        while not cancel_requested():
            taken: list[Delivery] = []
            try:
                taken = await self.outbox.take(self.consumer, BATCH)
                await asyncio.gather(*(self._deliver(d) for d in taken))
            except CallsUnavailable:
                log.warning("usage webhook outbox unreachable; will try again")
            except Exception:
                log.exception("usage webhook delivery failed")
            if len(taken) < BATCH:
                await asyncio.sleep(POLL_SECONDS)

    async def _deliver(self, delivery: Delivery) -> None:
        error = await self._post(delivery)
        if error is None:
            await self.outbox.done(delivery)
            log.info(
                "usage webhook delivered",
                extra={"event_id": delivery.event_id, "attempt": delivery.attempts + 1},
            )
            return
        attempt = delivery.attempts + 1
        log.warning(
            "usage webhook attempt failed",
            extra={"event_id": delivery.event_id, "attempt": attempt, "error": error},
        )
        if attempt >= MAX_ATTEMPTS:
            await self.outbox.give_up(delivery, error)
            return
        due = await self.outbox.now_ms() + backoff_ms(attempt, self._base)
        await self.outbox.retry_at(delivery, due)

    async def _post(self, delivery: Delivery) -> str | None:
        """None when the receiver took it (2xx); else why not, in words safe to show."""
        assert self._http is not None
        body = delivery.payload.encode()
        headers = {
            "Content-Type": "application/json",
            **self._secret.headers(body, webhook_id=delivery.event_id),
        }
        try:
            async with self._http.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                await answer.read()
                if 200 <= answer.status < 300:
                    return None
                return f"the receiver answered {answer.status}"
        except TimeoutError:
            return f"no answer within {TIMEOUT_SECONDS:g} s"
        except aiohttp.ClientError as error:
            return f"could not reach the receiver ({type(error).__name__})"

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._http is not None:
            await self._http.close()
        await self.outbox.aclose()
