"""Waiting for Redis replicas to hold a brokered call before the caller hears of it.

Redis replicates asynchronously: a master that dies right after acknowledging a write can take
the write with it, and a call admitted just then would run at the provider with no record, no
deadline and no place in the tenant's count. So before `POST /realtime_calls` answers 201, the
gateway writes a marker on the tenant's slot and sends `WAIT replicas timeout` on the same
connection: the replication stream is ordered, so once a replica holds the marker it holds
every write acknowledged before it (the leash's admission and the call's record included).

`GATEWAY_REDIS_WAIT_REPLICAS` (default 1 with Sentinel, 0 otherwise) and `GATEWAY_REDIS_WAIT_MS`
(default 200, at most 300: under the client's 0.5 s socket timeout). A replica that does not
answer in time costs that call the timeout and a warning; the call is answered anyway (refusing
would make the replica a single point of failure).
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from realtime_gateway.gateway.redisconn import REDIS_FAILURES, tenant_key

log = logging.getLogger("realtime_gateway.gateway.replica_wait")

MARKER_TTL_MS = 60_000


class ReplicaWait:
    """`await wait(tenant)`: how many replicas hold everything written so far (-1: Redis failed)."""

    def __init__(self, client: Redis, replicas: int, timeout_ms: int) -> None:
        self._client = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    async def __call__(self, tenant: str) -> int:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(tenant_key(tenant, "replicated"), "1", px=MARKER_TTL_MS)
                pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
                _, acknowledged = await pipe.execute()
        except REDIS_FAILURES as error:
            log.warning("replica wait failed", extra={"error": type(error).__name__})
            return -1
        if int(acknowledged) < self.replicas:
            log.warning(
                "replicas did not acknowledge a call in time",
                extra={
                    "tenant": tenant,
                    "acknowledged": int(acknowledged),
                    "wanted": self.replicas,
                    "timeout_ms": self.timeout_ms,
                },
            )
        return int(acknowledged)
