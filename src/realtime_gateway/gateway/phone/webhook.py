"""A delivery to `POST /webhooks/openai`, verified before anything is done for it: the Standard
Webhooks signature with `GATEWAY_OPENAI_WEBHOOK_SECRET`, its timestamp within 300 s of the
store's clock (never this replica's), and its `webhook-id` not seen before by any replica."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from realtime_gateway.gateway.calls.store import CallStore
from realtime_gateway.gateway.errors import Unauthorized
from realtime_gateway.webhook_signing import (
    DEFAULT_TOLERANCE,
    WebhookSecret,
    WebhookVerificationError,
)

# A replay verifies while its timestamp is within the tolerance either way of now, so an id is
# remembered for longer than twice the tolerance (a day: OpenAI retries for longer, but a
# retry after that is caught by the call's own dedup, `service.py`).
SEEN_TTL_MS = 86_400_000
SCOPE = "webhooks"


class BadDelivery(Unauthorized):
    """401: a delivery that does not verify, or one already delivered."""


class WebhookGate:
    def __init__(self, secret: WebhookSecret, store: CallStore) -> None:
        self._secret = secret
        self._store = store

    async def open(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """The event, once the delivery verifies and its id is new; else `BadDelivery`."""
        now_ms = await self._store.now_ms()
        try:
            webhook_id = self._secret.verify(
                body, headers, tolerance=DEFAULT_TOLERANCE, clock=lambda: now_ms / 1000
            )
        except WebhookVerificationError as error:
            raise BadDelivery(f"webhook refused: {error.reason}") from None
        if not await self._store.remember(SCOPE, webhook_id, SEEN_TTL_MS):
            raise BadDelivery("webhook refused: this webhook-id was already delivered")
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        # Signed by OpenAI yet not an object: nothing to act on (answered 200, ignored).
        return event if isinstance(event, dict) else {}
