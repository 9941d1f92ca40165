"""The leash's state in one process, for a gateway without Redis (or Redis down, failure mode
`local`). Same rules as the Redis store; atomic because no method awaits between its reads and
its writes."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls
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
    seconds_to_midnight,
    utc_day,
)
from realtime_gateway.gateway.ratelimit.types import Clock

FORGET_CHECK_SIZE = 1000  # past this many records, admission sweeps out day-old ended ones


@dataclass
class _Call:
    tenant: str
    started: float
    deadline: float
    live: bool = True
    provider: str | None = None
    provider_call_id: str | None = None
    audio_seconds: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    claimed_until: float = 0.0
    claim_reason: EndedReason | None = None
    seconds: float = 0.0
    reason: EndedReason | None = None
    ended_at: float | None = None


@dataclass
class _Day:
    calls: int = 0
    seconds: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class _Tenant:
    live: set[str] = field(default_factory=set)
    ledger: dict[int, _Day] = field(default_factory=lambda: defaultdict(_Day))
    last_admission: float = 0.0


class MemoryLeashStore:
    backend = "memory"

    def __init__(
        self, *, grace_seconds: float = DEFAULT_GRACE_SECONDS, clock: Clock = time.time
    ) -> None:
        self._grace = grace_seconds
        self._clock = clock
        self._calls: dict[tuple[str, str], _Call] = {}
        self._tenants: dict[str, _Tenant] = defaultdict(_Tenant)

    def _used(self, call: _Call, now: float) -> float:
        if call.audio_seconds is not None:
            return call.audio_seconds
        return max(0.0, now - call.started)

    def _spent(self, tenant: str, now: float) -> float:
        state = self._tenants[tenant]
        live = sum(self._used(self._calls[tenant, cid], now) for cid in state.live)
        return state.ledger[utc_day(now)].seconds + live

    def _prune(self, tenant: str, now: float) -> None:
        state = self._tenants[tenant]
        for call_id in list(state.live):
            if now >= self._calls[tenant, call_id].deadline + self._grace:
                state.live.discard(call_id)

    def _forget_ended(self, now: float) -> None:
        # An ended call stays readable for a day, as in Redis; then it goes.
        for key, call in list(self._calls.items()):
            if call.ended_at is not None and call.ended_at < now - DAY_SECONDS:
                del self._calls[key]

    async def admit(self, tenant: str, call_id: str, policy: TenantPolicy) -> Admission:
        now = self._clock()
        self._prune(tenant, now)
        if len(self._calls) > FORGET_CHECK_SIZE:
            self._forget_ended(now)
        state = self._tenants[tenant]
        if len(state.live) >= policy.max_concurrent_calls:
            raise TooManyCalls(
                f"the tenant has {policy.max_concurrent_calls} live calls, its limit"
            )
        budget = policy.daily_audio_seconds
        if budget is not None and self._spent(tenant, now) >= budget:
            raise QuotaExceeded(
                "the tenant's daily audio budget is spent", retry_after=seconds_to_midnight(now)
            )
        deadline = now + policy.max_call_seconds
        self._calls[tenant, call_id] = _Call(tenant=tenant, started=now, deadline=deadline)
        state.live.add(call_id)
        state.last_admission = now
        return Admission(tenant=tenant, call_id=call_id, started_at=now, deadline=deadline)

    def _live_call(self, tenant: str, call_id: str) -> _Call | None:
        call = self._calls.get((tenant, call_id))
        return call if call is not None and call.live else None

    async def attach(self, tenant: str, call_id: str, provider: str, provider_call_id: str) -> None:
        call = self._live_call(tenant, call_id)
        if call is not None:
            call.provider, call.provider_call_id = provider, provider_call_id

    async def release(self, tenant: str, call_id: str) -> None:
        if self._live_call(tenant, call_id) is not None:
            del self._calls[tenant, call_id]
            self._tenants[tenant].live.discard(call_id)

    async def add_usage(
        self,
        tenant: str,
        call_id: str,
        *,
        audio_seconds: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        call = self._live_call(tenant, call_id)
        if call is None:
            return
        if audio_seconds is not None:
            call.audio_seconds = max(audio_seconds, call.audio_seconds or 0.0)
        call.tokens_in += tokens_in
        call.tokens_out += tokens_out

    async def end(
        self, tenant: str, call_id: str, reason: EndedReason, audio_seconds: float | None = None
    ) -> CallEnd | None:
        call = self._live_call(tenant, call_id)
        if call is None:
            return None
        now = self._clock()
        if reason == "provider_closed" and call.claimed_until > now and call.claim_reason:
            reason = call.claim_reason  # the close answers a hang-up under way
        # Whole milliseconds, as the Redis store counts them.
        seconds = (
            int(1000 * (audio_seconds if audio_seconds is not None else self._used(call, now)))
            / 1000
        )
        call.live, call.reason, call.seconds, call.ended_at = False, reason, seconds, now
        self._tenants[tenant].live.discard(call_id)
        day = self._tenants[tenant].ledger[utc_day(now)]
        day.calls += 1
        day.seconds += seconds
        day.tokens_in += call.tokens_in
        day.tokens_out += call.tokens_out
        return CallEnd(
            tenant=tenant,
            call_id=call_id,
            reason=reason,
            seconds=seconds,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
        )

    async def mark_ending(
        self, tenant: str, call_id: str, reason: EndedReason, claim_seconds: float
    ) -> None:
        call = self._live_call(tenant, call_id)
        if call is not None:
            call.claimed_until, call.claim_reason = self._clock() + claim_seconds, reason

    async def live_calls(self, tenant: str) -> list[str]:
        self._prune(tenant, self._clock())
        return sorted(self._tenants[tenant].live)

    async def claim_due(
        self, tenant: str, policy: TenantPolicy, claim_seconds: float
    ) -> list[DueCall]:
        now = self._clock()
        state = self._tenants[tenant]
        over_budget = (
            policy.daily_audio_seconds is not None
            and self._spent(tenant, now) >= policy.daily_audio_seconds
        )
        claims: list[DueCall] = []
        for call_id in sorted(state.live):
            call = self._calls[tenant, call_id]
            if call.claimed_until > now:
                continue
            reason: EndedReason
            if now >= call.deadline:
                reason = "max_duration"
            elif over_budget:
                reason = "quota_exceeded"
            else:
                continue
            call.claimed_until, call.claim_reason = now + claim_seconds, reason
            claims.append(
                DueCall(
                    tenant=tenant,
                    call_id=call_id,
                    reason=reason,
                    provider=call.provider,
                    provider_call_id=call.provider_call_id,
                    past_grace=now >= call.deadline + self._grace,
                )
            )
        return claims

    async def active_tenants(self, horizon: float) -> list[str]:
        since = self._clock() - horizon
        return [name for name, state in self._tenants.items() if state.last_admission >= since]

    async def live_count(self, tenant: str) -> int:
        self._prune(tenant, self._clock())
        return len(self._tenants[tenant].live)

    async def status(self, tenant: str, call_id: str) -> CallStatus | None:
        call = self._calls.get((tenant, call_id))
        if call is None:
            return None
        return CallStatus(
            tenant=tenant,
            call_id=call_id,
            state="live" if call.live else "ended",
            started_at=call.started,
            deadline=call.deadline,
            seconds=self._used(call, self._clock()) if call.live else call.seconds,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            ended_reason=call.reason,
        )

    async def usage(self, tenant: str, days: int) -> list[DayUsage]:
        today = utc_day(self._clock())
        ledger = self._tenants[tenant].ledger
        out: list[DayUsage] = []
        for back in range(days):
            day = ledger.get(today - back, _Day())
            out.append(
                DayUsage(
                    day=day_name(today - back),
                    calls=day.calls,
                    audio_seconds=day.seconds,
                    tokens_in=day.tokens_in,
                    tokens_out=day.tokens_out,
                )
            )
        return out

    async def aclose(self) -> None:
        return None
