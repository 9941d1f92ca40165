"""Connections to the Redis that replicas share, and the key layout every shared script uses.

Every key carries its tenant as a hash tag (`rtg:{tenant}:...`), so a script that touches one
tenant's keys touches one Redis Cluster slot.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

SOCKET_TIMEOUT = 0.5
POOL_SIZE = 16


def tenant_key(tenant: str, *parts: str) -> str:
    """`rtg:{tenant}:part:part`: one tenant's keys hash to one cluster slot."""
    return ":".join(("rtg", "{" + tenant + "}", *parts))


# What counts as "Redis failed": refused, reset, timed out, or answered an error.
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


def redis_location(url: str) -> str:
    """host:port of a Redis URL, never its credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def make_client(url: str) -> Redis:
    """A client that fails fast: small pool, 0.5 s timeouts, one immediate retry on a broken
    connection (a pooled socket that died with a Redis restart), no retry on a timeout.

    A broken connection may break after the command ran: every script sent through this
    client must be safe to run twice (the limiter's is idempotent by its request id)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=SOCKET_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis.from_pool(pool)
