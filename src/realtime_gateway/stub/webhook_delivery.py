"""The stub's webhook deliveries, as OpenAI makes them: a signed POST of the event (Standard
Webhooks headers), retried with backoff while the receiver answers non-2xx or not at all, with the
same `webhook-id` on every attempt and a fresh timestamp and signature on each.

OpenAI retries for up to three days; the stub's schedule is `StubConfig.webhook_retry_delays`
(seconds before each retry; default 1, 2, 4, 8, 16: six attempts in about half a minute).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from realtime_gateway.webhook_signing import WebhookSecret

logger = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"


class WebhookSender:
    """Posts signed events to one URL; one HTTP client per stub, made on first use."""

    def __init__(
        self,
        url: str,
        secret: WebhookSecret,
        *,
        retry_delays: tuple[float, ...],
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self._secret = secret
        self._retry_delays = retry_delays
        self._timeout = timeout
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def deliver(
        self,
        event: dict[str, Any],
        webhook_id: str,
        attempts: list[dict[str, int | str]],
        still_wanted: Callable[[], bool],
    ) -> bool:
        """Deliver until a 2xx (True), the schedule is spent, or `still_wanted()` says the event
        no longer matters (a call answered or ended meanwhile). Each attempt is appended to
        `attempts`."""
        body = json.dumps(event).encode()
        delays = (0.0, *self._retry_delays)
        for number, delay in enumerate(delays, start=1):
            if delay > 0:
                await asyncio.sleep(delay)
            if not still_wanted():
                return False
            outcome = await self._attempt(body, webhook_id)
            attempts.append({"attempt": number, **outcome})
            status = outcome.get("status")
            if isinstance(status, int) and 200 <= status < 300:
                return True
            logger.info("webhook %s attempt %d failed: %s", webhook_id, number, outcome)
        return False

    async def _attempt(self, body: bytes, webhook_id: str) -> dict[str, int | str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **self._secret.headers(body, webhook_id=webhook_id, clock=self._clock),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                self.url,
                data=body,
                headers=headers,
                allow_redirects=False,  # a redirect is a failed delivery, as a non-2xx is
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                await response.content.read(MAX_ANSWER_BYTES)  # what it says is not read
                return {"status": response.status}
        except (aiohttp.ClientError, TimeoutError) as error:
            return {"error": type(error).__name__}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
