"""Call tokens: what `/realtime_session` hands out in brokered mode in place of a provider
secret. Single use, short-lived, kept only as a SHA-256 digest.

A token reads `rtg_ct_<32 url-safe chars: 192 random bits>.<tenant>`: the tenant part names
the Redis hash slot its grant lives in (`rtg:{tenant}:calltoken:<digest>`), so redeeming is one
GETDEL on one slot; forging the tenant part finds no grant.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import time
from typing import Protocol

from redis.asyncio import Redis

from realtime_gateway.gateway.calls.guard import redis_guard
from realtime_gateway.gateway.calls.records import CallGrant
from realtime_gateway.gateway.redisconn import tenant_key

TOKEN_PREFIX = "rtg_ct_"
TOKEN_SHAPE = re.compile(r"rtg_ct_([A-Za-z0-9_-]{32})\.([A-Za-z0-9._-]{1,64})")


def mint_token(tenant: str) -> str:
    return f"{TOKEN_PREFIX}{secrets.token_urlsafe(24)}.{tenant}"


def token_tenant(token: str) -> str | None:
    """The tenant a well-formed token names, or None for anything that is not a call token."""
    match = TOKEN_SHAPE.fullmatch(token)
    return match.group(2) if match else None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore(Protocol):
    async def put(self, token: str, grant: CallGrant) -> None:
        """Keep `grant` until `grant.expires_at`."""

    async def redeem(self, token: str) -> CallGrant | None:
        """The grant, exactly once across every replica; None if unknown, used or expired."""

    async def aclose(self) -> None: ...


class MemoryTokenStore:
    """One process's tokens. Every token lives `secret_ttl`, so insertion order is expiry
    order: expired grants are dropped from the front, a little on each put."""

    def __init__(self) -> None:
        self._grants: dict[str, CallGrant] = {}

    async def put(self, token: str, grant: CallGrant) -> None:
        now = time.time()
        for digest in list(itertools.islice(self._grants, 8)):
            if self._grants[digest].expires_at > now:
                break
            del self._grants[digest]
        self._grants[token_digest(token)] = grant

    async def redeem(self, token: str) -> CallGrant | None:
        grant = self._grants.pop(token_digest(token), None)
        if grant is None or grant.expires_at <= time.time():
            return None
        return grant

    def __len__(self) -> int:
        return len(self._grants)

    async def aclose(self) -> None:
        self._grants.clear()


class RedisTokenStore:
    """Grants in Redis with the token's life as TTL; GETDEL makes redemption single-use even
    when every replica tries the same token at once."""

    def __init__(self, client: Redis) -> None:
        self._redis = client

    @staticmethod
    def key(token: str) -> str | None:
        tenant = token_tenant(token)
        return tenant_key(tenant, "calltoken", token_digest(token)) if tenant else None

    async def put(self, token: str, grant: CallGrant) -> None:
        key = self.key(token)
        if key is None:
            raise ValueError("not a call token")
        ttl_ms = max(1, int((grant.expires_at - time.time()) * 1000))
        with redis_guard("put token"):
            await self._redis.set(key, grant.to_json(), px=ttl_ms)

    async def redeem(self, token: str) -> CallGrant | None:
        key = self.key(token)
        if key is None:
            return None
        with redis_guard("redeem token"):
            raw = await self._redis.getdel(key)
        if raw is None:
            return None
        grant = CallGrant.from_json(raw)
        if grant.expires_at <= time.time() or grant.tenant != token_tenant(token):
            return None
        return grant

    async def aclose(self) -> None:
        """The client belongs to the `CallState` that made this store."""
