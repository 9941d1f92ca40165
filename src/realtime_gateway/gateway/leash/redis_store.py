"""The leash's state in Redis, shared by every replica: live calls, deadlines, the ledger.

Each operation is one Lua script (see `scripts`), so N replicas admitting at once against a
cap C admit exactly C, and a call's end is counted once however many replicas report it.
"""

from __future__ import annotations

import time
from typing import Any, cast

from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls
from realtime_gateway.gateway.leash import scripts
from realtime_gateway.gateway.leash.policy import TenantPolicy
from realtime_gateway.gateway.leash.types import (
    DAY_SECONDS,
    DEFAULT_GRACE_SECONDS,
    Admission,
    CallEnd,
    CallStatus,
    DayUsage,
    DueCall,
    EndedReason,
    day_name,
    utc_day,
)
from realtime_gateway.gateway.redisconn import SharedRedis, make_client, tenant_key

# Not one tenant's: tagged `{leash}` so every key the gateway uses carries a hash tag; only
# single-key commands touch it.
TENANTS_KEY = "rtg:{leash}:tenants"
# An ended call's record stays readable (GET /realtime_calls/{id}) this long.
KEEP_ENDED_SECONDS = DAY_SECONDS


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def _budget_ms(policy: TenantPolicy) -> int:
    budget = policy.daily_audio_seconds
    return -1 if budget is None else budget * 1000


class RedisLeashStore:
    """`client` is a seam for tests and for sharing a pool; when given, the caller closes it."""

    backend = "redis"

    def __init__(
        self,
        url: str = "",
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        client: SharedRedis | None = None,
        owns_client: bool | None = None,
    ) -> None:
        """On `url`'s Redis, or on `client` (closed by `aclose` only when `owns_client`)."""
        self._grace = grace_seconds
        self._owns_client = client is None if owns_client is None else owns_client
        self._client = client if client is not None else make_client(url)
        self._admit = self._client.register_script(scripts.ADMIT)
        self._attach = self._client.register_script(scripts.ATTACH)
        self._release = self._client.register_script(scripts.RELEASE)
        self._add_usage = self._client.register_script(scripts.ADD_USAGE)
        self._end = self._client.register_script(scripts.END)
        self._mark_ending = self._client.register_script(scripts.MARK_ENDING)
        self._claim = self._client.register_script(scripts.CLAIM_DUE)

    @staticmethod
    def _keys(tenant: str, call_id: str | None = None) -> list[str]:
        keys = [
            tenant_key(tenant, "leash", "live"),
            tenant_key(tenant, "leash", "deadlines"),
            tenant_key(tenant, "leash", "ledger"),
        ]
        if call_id is not None:
            keys.append(tenant_key(tenant, "leash", "call", call_id))
        return keys

    @staticmethod
    def _call_prefix(tenant: str) -> str:
        return tenant_key(tenant, "leash", "call", "")

    async def admit(self, tenant: str, call_id: str, policy: TenantPolicy) -> Admission:
        keep = policy.max_call_seconds + int(self._grace) + KEEP_ENDED_SECONDS
        # Named to the reapers before the call exists: a replica killed right after admitting
        # leaves a call every other replica's reaper already knows where to look for.
        await self._client.zadd(TENANTS_KEY, {tenant: time.time()})
        reply = cast(
            list[Any],
            await self._admit(
                keys=self._keys(tenant, call_id),
                args=[
                    policy.max_concurrent_calls,
                    _us(policy.max_call_seconds),
                    _budget_ms(policy),
                    _us(self._grace),
                    call_id,
                    self._call_prefix(tenant),
                    keep,
                ],
            ),
        )
        if int(reply[0]) == 0:
            if _text(reply[1]) == "quota_exceeded":
                raise QuotaExceeded(
                    "the tenant's daily audio budget is spent", retry_after=int(reply[2])
                )
            raise TooManyCalls(
                f"the tenant has {policy.max_concurrent_calls} live calls, its limit"
            )
        return Admission(
            tenant=tenant,
            call_id=call_id,
            started_at=int(reply[1]) / 1e6,
            deadline=int(reply[2]) / 1e6,
        )

    async def attach(self, tenant: str, call_id: str, provider: str, provider_call_id: str) -> None:
        key = tenant_key(tenant, "leash", "call", call_id)
        await self._attach(keys=[key], args=[provider, provider_call_id])

    async def release(self, tenant: str, call_id: str) -> None:
        await self._release(keys=self._keys(tenant, call_id), args=[call_id])

    async def add_usage(
        self,
        tenant: str,
        call_id: str,
        *,
        audio_seconds: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        audio_ms = -1 if audio_seconds is None else int(audio_seconds * 1000)
        key = tenant_key(tenant, "leash", "call", call_id)
        await self._add_usage(keys=[key], args=[audio_ms, tokens_in, tokens_out])

    async def end(
        self, tenant: str, call_id: str, reason: EndedReason, audio_seconds: float | None = None
    ) -> CallEnd | None:
        audio_ms = -1 if audio_seconds is None else int(audio_seconds * 1000)
        reply = cast(
            list[Any],
            await self._end(
                keys=self._keys(tenant, call_id),
                args=[reason, audio_ms, call_id, KEEP_ENDED_SECONDS],
            ),
        )
        if int(reply[0]) == 0:
            return None
        return CallEnd(
            tenant=tenant,
            call_id=call_id,
            reason=cast(EndedReason, _text(reply[4])),
            seconds=int(reply[1]) / 1000,
            tokens_in=int(reply[2]),
            tokens_out=int(reply[3]),
        )

    async def mark_ending(
        self, tenant: str, call_id: str, reason: EndedReason, claim_seconds: float
    ) -> None:
        key = tenant_key(tenant, "leash", "call", call_id)
        await self._mark_ending(keys=[key], args=[reason, _us(claim_seconds)])

    async def live_calls(self, tenant: str) -> list[str]:
        ids = await self._client.zrange(tenant_key(tenant, "leash", "live"), 0, -1)
        return [_text(call_id) for call_id in ids]

    async def claim_due(
        self, tenant: str, policy: TenantPolicy, claim_seconds: float
    ) -> list[DueCall]:
        reply = cast(
            list[Any],
            await self._claim(
                keys=self._keys(tenant),
                args=[
                    _budget_ms(policy),
                    _us(claim_seconds),
                    _us(self._grace),
                    self._call_prefix(tenant),
                ],
            ),
        )
        claims: list[DueCall] = []
        for call_id, reason, provider, provider_call_id, past in reply[0]:
            claims.append(
                DueCall(
                    tenant=tenant,
                    call_id=_text(call_id),
                    reason=cast(EndedReason, _text(reason)),
                    provider=_text(provider) or None,
                    provider_call_id=_text(provider_call_id) or None,
                    past_grace=bool(int(past)),
                )
            )
        return claims

    async def active_tenants(self, horizon: float) -> list[str]:
        await self._client.zremrangebyscore(TENANTS_KEY, "-inf", time.time() - horizon)
        return [_text(name) for name in await self._client.zrange(TENANTS_KEY, 0, -1)]

    async def live_count(self, tenant: str) -> int:
        return int(await self._client.zcard(tenant_key(tenant, "leash", "live")))

    async def status(self, tenant: str, call_id: str) -> CallStatus | None:
        raw = await self._client.hgetall(tenant_key(tenant, "leash", "call", call_id))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        live = fields.get("state") == "live"
        if live:
            now_us = int(time.time() * 1e6)
            ms = float(fields.get("audio_ms", (now_us - int(fields["started"])) // 1000))
        else:
            ms = float(fields["ms"])
        return CallStatus(
            tenant=tenant,
            call_id=call_id,
            state="live" if live else "ended",
            started_at=int(fields["started"]) / 1e6,
            deadline=int(fields["deadline"]) / 1e6,
            seconds=max(0.0, ms / 1000),
            tokens_in=int(fields.get("tin", 0)),
            tokens_out=int(fields.get("tout", 0)),
            ended_reason=None if live else cast(EndedReason, fields.get("reason")),
        )

    async def usage(self, tenant: str, days: int) -> list[DayUsage]:
        today = utc_day(time.time())
        wanted = [today - back for back in range(days)]
        names = [f"{day}:{what}" for day in wanted for what in ("calls", "ms", "tin", "tout")]
        values = await self._client.hmget(tenant_key(tenant, "leash", "ledger"), names)
        figures = [int(v) if v is not None else 0 for v in values]
        return [
            DayUsage(
                day=day_name(day),
                calls=figures[4 * i],
                audio_seconds=figures[4 * i + 1] / 1000,
                tokens_in=figures[4 * i + 2],
                tokens_out=figures[4 * i + 3],
            )
            for i, day in enumerate(wanted)
        ]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
