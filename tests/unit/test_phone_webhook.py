"""The webhook gate judges a delivery's timestamp by the store's clock (Redis `TIME` in
production), never the replica's own, and lets each `webhook-id` through once."""

from __future__ import annotations

import time

import pytest

from realtime_gateway.gateway.calls.memory_store import MemoryCallStore
from realtime_gateway.gateway.phone.webhook import BadDelivery, WebhookGate
from realtime_gateway.webhook_signing import WebhookSecret

SIGNER, _ = WebhookSecret.generate()
BODY = b'{"type": "realtime.call.incoming", "data": {}}'
STORE_NOW_S = 1_900_000_000  # years away from this machine's clock


async def test_the_timestamp_is_judged_by_the_store_clock() -> None:
    gate = WebhookGate(SIGNER, MemoryCallStore(clock=lambda: STORE_NOW_S * 1000))
    event = await gate.open(BODY, SIGNER.headers(BODY, timestamp=STORE_NOW_S - 299))
    assert event["type"] == "realtime.call.incoming"
    for stamp in (STORE_NOW_S - 301, STORE_NOW_S + 301, int(time.time())):
        with pytest.raises(BadDelivery, match="too (old|new)"):
            await gate.open(BODY, SIGNER.headers(BODY, timestamp=stamp))


async def test_each_webhook_id_passes_once_and_a_refusal_remembers_nothing() -> None:
    gate = WebhookGate(SIGNER, MemoryCallStore(clock=lambda: STORE_NOW_S * 1000))
    headers = SIGNER.headers(BODY, timestamp=STORE_NOW_S)
    forged = {
        **headers,
        "webhook-signature": WebhookSecret.generate()[0].headers(
            BODY, webhook_id=headers["webhook-id"], timestamp=STORE_NOW_S
        )["webhook-signature"],
    }
    with pytest.raises(BadDelivery, match="no webhook signature matches"):
        await gate.open(BODY, forged)
    await gate.open(BODY, headers)  # the forgery did not use the id up
    with pytest.raises(BadDelivery, match="already delivered"):
        await gate.open(BODY, headers)
