"""The call store's contract, its in-process backend, and the factory that picks a backend.

Without Redis one process holds every call; with `GATEWAY_REDIS_URL` every replica shares them
(see `redis_store`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from realtime_gateway.gateway.calls.records import CallRecord
from realtime_gateway.gateway.calls.tokens import MemoryTokenStore, TokenStore
from realtime_gateway.gateway.settings import Settings

if TYPE_CHECKING:
    from realtime_gateway.gateway.replica_wait import ReplicaWait

# How long an ended call stays readable (GET /realtime_calls/{id}).
ENDED_RETENTION_SECONDS = 24 * 3600


class CallStore(Protocol):
    async def create(self, record: CallRecord) -> None:
        """Remember a new live call."""

    async def get(self, tenant: str, call_id: str) -> CallRecord | None:
        """The tenant's call, or None (also for another tenant's call id)."""

    async def list_live(self, tenant: str) -> list[CallRecord]:
        """The tenant's live calls, oldest first."""

    async def end(self, tenant: str, call_id: str, reason: str, at: float) -> CallRecord | None:
        """Mark the call ended, once: the ended record for the caller that ended it, None if
        it was already ended or does not exist."""

    async def add_usage(
        self, tenant: str, call_id: str, audio_seconds: float = 0.0, tokens: int = 0
    ) -> None:
        """Add usage to a call's running totals."""

    async def aclose(self) -> None: ...


class MemoryCallStore:
    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], CallRecord] = {}

    async def create(self, record: CallRecord) -> None:
        self._calls[(record.tenant, record.call_id)] = record

    async def get(self, tenant: str, call_id: str) -> CallRecord | None:
        return self._calls.get((tenant, call_id))

    async def list_live(self, tenant: str) -> list[CallRecord]:
        live = [r for (t, _), r in self._calls.items() if t == tenant and r.status == "live"]
        return sorted(live, key=lambda record: record.started_at)

    async def end(self, tenant: str, call_id: str, reason: str, at: float) -> CallRecord | None:
        record = self._calls.get((tenant, call_id))
        if record is None or record.status != "live":
            return None
        ended = record.ended(reason, at)
        self._calls[(tenant, call_id)] = ended
        self._forget_old(at)
        return ended

    async def add_usage(
        self, tenant: str, call_id: str, audio_seconds: float = 0.0, tokens: int = 0
    ) -> None:
        record = self._calls.get((tenant, call_id))
        if record is not None:
            self._calls[(tenant, call_id)] = replace(
                record,
                audio_seconds=record.audio_seconds + audio_seconds,
                tokens=record.tokens + tokens,
            )

    def _forget_old(self, now: float) -> None:
        horizon = now - ENDED_RETENTION_SECONDS
        for key, record in list(self._calls.items()):
            if record.ended_at is not None and record.ended_at < horizon:
                del self._calls[key]

    async def aclose(self) -> None:
        self._calls.clear()


@dataclass
class CallState:
    """Call tokens and call records, from one backend; `aclose` releases its connections."""

    tokens: TokenStore
    calls: CallStore
    # With Redis replicas to wait for: answers once they hold the tenant's writes so far.
    wait_replicas: ReplicaWait | None = None

    async def aclose(self) -> None:
        await self.tokens.aclose()
        await self.calls.aclose()


def build_call_state(settings: Settings) -> CallState:
    """In process without Redis; in the Redis the limiter shares when it is configured."""
    if not settings.redis_configured():
        return CallState(MemoryTokenStore(), MemoryCallStore())
    from redis.asyncio import Redis

    from realtime_gateway.gateway.calls.redis_store import RedisCallStore
    from realtime_gateway.gateway.calls.tokens import RedisTokenStore
    from realtime_gateway.gateway.redisconn import redis_from_settings
    from realtime_gateway.gateway.replica_wait import ReplicaWait

    client = redis_from_settings(settings)
    replicas = settings.replicas_to_wait_for()
    wait = (
        ReplicaWait(client, replicas, settings.redis_wait_ms)
        if replicas > 0 and isinstance(client, Redis)
        else None
    )
    return CallState(RedisTokenStore(client), RedisCallStore(client, owns_client=True), wait)
