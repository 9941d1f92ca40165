"""Call tokens: what the gateway hands out in place of a provider secret (brokered
`/realtime_session`, `/v1/realtime/client_secrets`). Single use, short-lived, kept only as a
SHA-256 digest; the store keeps what a token grants (a `CallGrant`) until it expires by the
store's clock.

A token reads `ek_rtg_<32 url-safe chars: 192 random bits>.<tenant>`. The `ek_` prefix is what
OpenAI's browser SDKs require of a key they let into a page; the tenant part names the Redis
hash slot its grant lives in, so redeeming it is one script on one slot, and forging the tenant
part finds no grant.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "ek_rtg_"
TOKEN_SHAPE = re.compile(r"ek_rtg_([A-Za-z0-9_-]{32})\.([A-Za-z0-9._-]{1,64})")


def mint_token(tenant: str) -> str:
    return f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}.{tenant}"


def token_tenant(token: str) -> str | None:
    """The tenant a well-formed token names, or None for anything that is not a call token."""
    match = TOKEN_SHAPE.fullmatch(token)
    return match.group(2) if match else None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
