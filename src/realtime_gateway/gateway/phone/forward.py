"""A phone call forwarded to its tenant: OpenAI's event, with the gateway's call id in place of
the provider's, POSTed to the tenant's `phone_webhook_url` and signed with its
`phone_webhook_secret` (Standard Webhooks, as OpenAI signs, so the tenant's app verifies it with
the official SDK's `webhooks.unwrap`). The provider key never goes with it."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from realtime_gateway.gateway.providers.call_http import CallTransport
from realtime_gateway.gateway.providers.transport import UpstreamTimeout, UpstreamUnreachable
from realtime_gateway.webhook_signing import WebhookSecret, WebhookSecretError

log = logging.getLogger("realtime_gateway.gateway.phone.forward")

USER_AGENT = "realtime-gateway-webhooks/1"


def forwarded_event(event: dict[str, Any], call_id: str) -> dict[str, Any]:
    """The event as the tenant sees it: `data.call_id` (Live: `data.session_id`) is the
    gateway's call id; the provider's never leaves the gateway."""
    shown = copy.deepcopy(event)
    data = shown.get("data")
    if isinstance(data, dict):
        data["session_id" if "session_id" in data else "call_id"] = call_id
    return shown


async def forward(
    http: CallTransport,
    url: str | None,
    secret: str | None,
    event: dict[str, Any],
    *,
    now_s: int,
    timeout: float,
) -> bool:
    """Deliver once; True when the tenant's endpoint answered 2xx."""
    if not url or not secret or urlsplit(url).scheme not in ("http", "https"):
        log.warning("phone: forwarded mode without a usable webhook URL and secret")
        return False
    try:
        signer = WebhookSecret(secret)
    except WebhookSecretError as error:
        log.warning("phone: the tenant's webhook secret is unusable", extra={"error": error.reason})
        return False
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signer.headers(body, timestamp=now_s),
    }
    try:
        reply = await http.post(url, headers=headers, body=body, timeout=timeout)
    except (UpstreamTimeout, UpstreamUnreachable) as error:
        log.warning("phone: the tenant's webhook did not answer", extra={"error": str(error)})
        return False
    if not 200 <= reply.status < 300:
        log.warning("phone: the tenant's webhook refused", extra={"status": reply.status})
        return False
    return True
