"""Standard Webhooks signatures as OpenAI makes and checks them, for the stub and the gateway.

A delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`: one
or more space-separated `v1,<base64>` entries, each an HMAC-SHA256 of `"{id}.{timestamp}.{body}"`
keyed with the base64-decoded part of a `whsec_...` secret. A delivery passes when any `v1` entry
matches and its timestamp is within the tolerance (300 s) of now, either way.

    WebhookError                  every refusal; `reason` never holds the secret
    ├── WebhookSecretError        a secret that is not `whsec_` + base64 (a configuration error)
    └── WebhookVerificationError  a delivery that does not verify (answer it 401)

Imports nothing of ours, like `wire.py`: both sides of the wire read it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping

__all__ = [
    "DEFAULT_TOLERANCE",
    "WebhookError",
    "WebhookSecret",
    "WebhookSecretError",
    "WebhookVerificationError",
    "new_webhook_id",
]

DEFAULT_TOLERANCE = 300  # seconds, both ways, as OpenAI's `verify_signature`
SECRET_PREFIX = "whsec_"
# Bounds on what an untrusted sender may make us parse; far above what OpenAI sends.
MAX_ID_CHARS = 256
MAX_SIGNATURE_HEADER_CHARS = 4096
MAX_SIGNATURES = 16

Clock = Callable[[], float]


class WebhookError(Exception):
    """A refusal; `reason` says why in words safe to log and to answer with."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookSecretError(WebhookError, ValueError):
    """The secret is not `whsec_` followed by base64."""


class WebhookVerificationError(WebhookError):
    """The delivery's headers, timestamp or signature do not verify."""


def new_webhook_id() -> str:
    """A fresh `webhook-id`, shaped like OpenAI's (`wh_` + 32 hex)."""
    return "wh_" + secrets.token_hex(16)


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, whatever the mapping's case (starlette's, httpx's or a plain dict)."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if value is None or not value.strip():
        raise WebhookVerificationError(f"missing {name} header")
    return value.strip()


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


class WebhookSecret:
    """A `whsec_...` signing secret, parsed once; it never prints its key."""

    __slots__ = ("_key",)

    def __init__(self, secret: str) -> None:
        if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
            raise WebhookSecretError("a webhook secret must start with whsec_")
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookSecretError("a webhook secret must be whsec_ followed by base64") from None
        if not key:
            raise WebhookSecretError("a webhook secret must not be empty")
        self._key = key

    @classmethod
    def generate(cls) -> tuple[WebhookSecret, str]:
        """A fresh random secret (32 bytes) and its `whsec_...` text, to configure elsewhere."""
        text = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        return cls(text), text

    def __repr__(self) -> str:
        return "WebhookSecret('whsec_**********')"

    def signature(self, webhook_id: str, timestamp: int | str, body: bytes | str) -> str:
        """The `v1,<base64>` entry for this id, timestamp and body."""
        signed = f"{webhook_id}.{timestamp}.".encode() + _as_bytes(body)
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    def headers(
        self,
        body: bytes | str,
        *,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        clock: Clock = time.time,
    ) -> dict[str, str]:
        """The three headers of one delivery attempt. A retry keeps its `webhook_id` and takes
        a fresh timestamp (so a retry hours later still verifies)."""
        webhook_id = webhook_id or new_webhook_id()
        stamp = int(clock()) if timestamp is None else timestamp
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": self.signature(webhook_id, stamp, body),
        }

    def verify(
        self,
        body: bytes | str,
        headers: Mapping[str, str],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        clock: Clock = time.time,
    ) -> str:
        """The delivery's `webhook-id` when it verifies; else `WebhookVerificationError`.

        The id is returned so the caller can refuse a replay (this module keeps no memory).
        """
        webhook_id = _header(headers, "webhook-id")
        stamp_text = _header(headers, "webhook-timestamp")
        signature_header = _header(headers, "webhook-signature")
        if len(webhook_id) > MAX_ID_CHARS:
            raise WebhookVerificationError("webhook-id header too long")
        if not stamp_text.isascii() or not stamp_text.isdigit():
            raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds")
        stamp = int(stamp_text)
        now = int(clock())
        if now - stamp > tolerance:
            raise WebhookVerificationError("webhook timestamp too old")
        if stamp - now > tolerance:
            raise WebhookVerificationError("webhook timestamp too new")
        if len(signature_header) > MAX_SIGNATURE_HEADER_CHARS:
            raise WebhookVerificationError("webhook-signature header too long")
        entries = signature_header.split()
        if len(entries) > MAX_SIGNATURES:
            raise WebhookVerificationError("too many signatures in webhook-signature")
        expected = self.signature(webhook_id, stamp_text, body).encode()
        matched = False
        for entry in entries:
            # Other versions (v1a: asymmetric) are skipped, as Standard Webhooks says; every v1
            # entry is compared in full, so a near miss takes as long as a far one.
            if entry.startswith("v1,"):
                matched |= hmac.compare_digest(expected, entry.encode())
        if not matched:
            raise WebhookVerificationError("no webhook signature matches")
        return webhook_id
