"""The shared limiter: an exact sliding window per tenant in one Redis Lua script.

Every replica asks the same script, so they agree under concurrency; one EVALSHA per decision.
When Redis fails, `limiter_failure_mode` decides: `local`, `deny` or `allow`.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from typing import Any, Literal

from realtime_gateway.gateway.errors import LimiterUnavailable
from realtime_gateway.gateway.ratelimit.memory import MemoryLimiter
from realtime_gateway.gateway.ratelimit.types import Clock, Decision, Rates, make_decision
from realtime_gateway.gateway.redisconn import (
    REDIS_FAILURES,
    RedisTopology,
    SharedRedis,
    failure_reason,
    tenant_key,
)

logger = logging.getLogger("realtime_gateway.gateway.ratelimit")

FailureMode = Literal["local", "deny", "allow"]


def limiter_key(tenant: str) -> str:
    """`rtg:{tenant}:rl`: the tenant's sorted set of hits, in the tenant's cluster slot."""
    return tenant_key(tenant, "rl")


# Why Redis TIME and not the caller's clock: replicas' clocks drift apart, and a window judged
# by several clocks is not exact (a replica running 2 s behind would see its peers' hits as
# "future" ones). TIME inside a script is allowed since Redis 5 (effects replication, the only
# mode from 7), so the one server is the one clock. Times are integer microseconds: below
# 2**53, so exact as Lua numbers and as sorted-set scores.
# The script is idempotent by its member (ARGV[3], unique per decision): the client retries a
# command whose connection broke, and if the first run had counted the hit, the retry finds
# its member and answers "allowed" again instead of counting twice. A denial stores nothing,
# so running it again is harmless.
SLIDING_WINDOW = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if redis.call('ZSCORE', key, ARGV[3]) then
  allowed = 1
elseif count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  count = count + 1
  allowed = 1
end
local until_oldest_leaves = 0
if count > 0 then
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  until_oldest_leaves = oldest + window - now
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
end
return {allowed, count, until_oldest_leaves}
"""


# A refund removes exactly the member the hit added, in the same key, in one atomic step; a
# member that already left the window (or was never added) is a no-op.
REFUND = """
return redis.call('ZREM', KEYS[1], ARGV[1])
"""


class RedisLimiter:
    """Sliding window shared by every replica, with the configured failure mode.

    `client` is a seam for tests and for sharing a pool; when given, the caller closes it.
    """

    def __init__(
        self,
        redis: RedisTopology | str,
        rates: Rates,
        *,
        failure_mode: FailureMode = "local",
        clock: Clock = time.monotonic,
        client: SharedRedis | None = None,
    ) -> None:
        topology = RedisTopology.single(redis) if isinstance(redis, str) else redis
        self._rates = rates
        self._failure_mode = failure_mode
        self._location = topology.location
        self._owns_client = client is None
        self._client = client if client is not None else topology.connect()
        self._script = self._client.register_script(SLIDING_WINDOW)
        self._refund_script = self._client.register_script(REFUND)
        self._local = MemoryLimiter(rates, clock=clock, backend="local")
        # Members must be unique across replicas: two hits in the same microsecond both count,
        # and a retried decision is recognised by its member (see SLIDING_WINDOW).
        self._member_prefix = secrets.token_hex(8)
        self._sequence = itertools.count()

    async def hit(self, tenant: str) -> Decision:
        policy, limit, window = self._rates.for_tenant(tenant)
        member = f"{self._member_prefix}:{next(self._sequence)}"
        try:
            reply: Any = await self._script(
                keys=[limiter_key(tenant)], args=[limit, window * 1_000_000, member]
            )
        except REDIS_FAILURES as exc:
            return self._when_redis_failed(tenant, policy, limit, window, exc)
        allowed, counted, until_us = (int(value) for value in reply)
        return make_decision(
            allowed=bool(allowed),
            policy=policy,
            limit=limit,
            window=window,
            counted=counted,
            until_oldest_leaves=until_us / 1_000_000,
            backend="redis",
            ticket=member,
        )

    async def refund(self, tenant: str, decision: Decision) -> None:
        if decision.backend == "local":
            self._local.uncount(tenant, decision)
            return
        if decision.backend != "redis" or not decision.ticket:
            return  # "allow" counted nothing
        try:
            await self._refund_script(keys=[limiter_key(tenant)], args=[decision.ticket])
        except REDIS_FAILURES as exc:
            logger.warning(
                "rate limiter: redis at %s failed (%s) refunding tenant %r; the hit stays counted",
                self._location,
                type(exc).__name__,
                tenant,
            )

    def _when_redis_failed(
        self, tenant: str, policy: str, limit: int, window: int, exc: BaseException
    ) -> Decision:
        logger.warning(
            "rate limiter: redis at %s failed (%s: %s); tenant %r decided by failure mode %r",
            self._location,
            type(exc).__name__,
            exc,
            tenant,
            self._failure_mode,
        )
        if self._failure_mode == "deny":
            raise LimiterUnavailable("rate limiter unavailable") from exc
        if self._failure_mode == "allow":
            # Nothing was counted, so nothing is spent.
            return Decision(
                allowed=True,
                policy=policy,
                limit=limit,
                window=window,
                remaining=limit,
                reset_after=0,
                retry_after=0,
                backend="allow",
            )
        return self._local.decide(tenant)

    async def check_ready(self) -> str | None:
        try:
            await self._client.ping()
        except REDIS_FAILURES as error:
            return failure_reason(error)
        return None

    async def aclose(self) -> None:
        await self._local.aclose()
        if self._owns_client:
            await self._client.aclose()
