"""The call store in one process (no Redis, or Redis down with failure mode `local`/`allow`):
the leash's rules written plainly. `redis_store.py` keeps the same rules as Lua scripts, and a
state-machine test holds the two together. Atomic because no method awaits between its reads
and its writes."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec, EndedReason, Transport
from realtime_gateway.gateway.calls.store import (
    DEFAULT_GRACE_MS,
    KEEP_ENDED_MS,
    LEDGER_RETENTION_DAYS,
    AdmitRequest,
    Beat,
    CallEnd,
    Claim,
    ClaimPass,
    ClaimReason,
    DayUsage,
    DueTenant,
    UsageReport,
    day_name,
    ms_to_midnight,
    utc_day,
)
from realtime_gateway.gateway.calls.tokens import token_digest
from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls, Unauthorized
from realtime_gateway.gateway.policy import TenantPolicy

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Grant:
    tenant: str
    spec: CallSpec
    expires_ms: int
    used_by: str = ""


@dataclass
class _Entry:
    """A record and what only the rules read: when the reaper looks at it next, its claim,
    the operation that ended it, the responses counted."""

    record: CallRecord
    due_ms: int
    claim_until_ms: int = 0
    end_op: str = ""
    responses: set[str] = field(default_factory=set)


@dataclass
class _Day:
    calls: int = 0
    audio_ms: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    by_transport: dict[str, list[int]] = field(default_factory=dict)


class MemoryCallStore:
    """`clock` is a seam for tests that move time; the ledger's days are UTC days by it."""

    backend = "memory"

    def __init__(self, *, grace_ms: int = DEFAULT_GRACE_MS, clock: Clock = wall_clock_ms) -> None:
        self._grace = grace_ms
        self._clock = clock
        self._grants: dict[str, _Grant] = {}
        self._calls: dict[tuple[str, str], _Entry] = {}
        self._ledger: dict[str, dict[int, _Day]] = defaultdict(dict)
        self._seen: dict[tuple[str, str], int] = {}  # (scope, key) -> until, `remember`

    async def now_ms(self) -> int:
        return self._clock()

    # -- what the rules read ----------------------------------------------------------------

    def _entries(self, tenant: str) -> list[_Entry]:
        return [e for (t, _), e in self._calls.items() if t == tenant and e.record.state != "ended"]

    def _spent(self, tenant: str, now: int) -> int:
        """Today's ended calls plus every live call's use so far (a call's clock is not
        stopped by a hang-up request until its end is recorded)."""
        day = self._ledger[tenant].get(utc_day(now))
        spent = day.audio_ms if day else 0
        for entry in self._entries(tenant):
            record = entry.record
            spent += record.audio_ms if record.audio_ms is not None else now - record.started_ms
        return spent

    def _taken(self, tenant: str, now: int) -> int:
        return sum(1 for e in self._entries(tenant) if e.record.deadline_ms > now - self._grace)

    def _forget(self, now: int) -> None:
        for key, entry in list(self._calls.items()):
            ended = entry.record.ended_ms
            if ended is not None and ended < now - KEEP_ENDED_MS:
                del self._calls[key]
        for digest, grant in list(self._grants.items()):
            if grant.expires_ms <= now:
                del self._grants[digest]
        for seen, until in list(self._seen.items()):
            if until <= now:
                del self._seen[seen]

    async def remember(self, scope: str, key: str, ttl_ms: int) -> bool:
        now = self._clock()
        if len(self._seen) > 1000:
            self._forget(now)
        if self._seen.get((scope, key), 0) > now:
            return False
        self._seen[scope, key] = now + ttl_ms
        return True

    # -- tokens and admission ---------------------------------------------------------------

    async def put_grant(self, token: str, tenant: str, spec: CallSpec, ttl_seconds: int) -> int:
        expires = self._clock() + ttl_seconds * 1000
        self._grants[token_digest(token)] = _Grant(tenant, spec, expires)
        return expires

    async def admit(self, request: AdmitRequest) -> CallRecord:
        now = self._clock()
        tenant, call_id = request.tenant, request.call_id
        existing = self._calls.get((tenant, call_id))
        if existing is not None:  # this admission, run again
            return existing.record
        if len(self._calls) > 1000 or len(self._grants) > 1000:
            self._forget(now)
        spec = request.spec
        grant: _Grant | None = None
        if request.token is not None:
            grant = self._grants.get(token_digest(request.token))
            if grant is None or grant.expires_ms <= now or grant.tenant != tenant:
                raise Unauthorized("unknown, expired or already used call token")
            if grant.used_by and grant.used_by != call_id:
                raise Unauthorized("unknown, expired or already used call token")
            spec = grant.spec
        assert spec is not None, "an admission needs a spec or a call token"
        policy = request.policy
        if request.enforce:
            if self._taken(tenant, now) >= policy.max_concurrent_calls:
                raise TooManyCalls(
                    f"the tenant has {policy.max_concurrent_calls} live calls, its limit"
                )
            budget = policy.daily_audio_seconds
            if budget is not None and self._spent(tenant, now) >= budget * 1000:
                raise QuotaExceeded(
                    "the tenant's daily audio budget is spent",
                    retry_after=-(-ms_to_midnight(now) // 1000),
                )
        record = CallRecord(
            call_id=call_id,
            tenant=tenant,
            state="admitted",
            transport=request.transport,
            spec=spec,
            started_ms=now,
            deadline_ms=now + policy.max_call_seconds * 1000,
            provider_call_id=request.provider_call_id,
            token_digest=token_digest(request.token) if request.token else "",
        )
        # Looked at when its attach window closes, or at its deadline if that comes first.
        due = min(now + request.attach_window_ms, record.deadline_ms)
        self._calls[tenant, call_id] = _Entry(record, due_ms=due)
        if grant is not None:
            grant.used_by = call_id
        return record

    async def attach(
        self,
        tenant: str,
        call_id: str,
        provider_call_id: str,
        holder: str,
        spec: CallSpec | None = None,
    ) -> bool:
        entry = self._calls.get((tenant, call_id))
        if entry is None or entry.record.state == "ended":
            return False
        if entry.record.state == "live":
            return entry.record.provider_call_id == provider_call_id
        entry.record = entry.record.with_state(
            state="live",
            provider_call_id=provider_call_id,
            holder=holder,
            spec=spec or entry.record.spec,
        )
        entry.due_ms = entry.record.deadline_ms
        return True

    async def release(self, tenant: str, call_id: str) -> None:
        entry = self._calls.get((tenant, call_id))
        if entry is None or entry.record.state != "admitted":
            return
        del self._calls[tenant, call_id]
        grant = self._grants.get(entry.record.token_digest)
        if grant is not None and grant.used_by == call_id:
            grant.used_by = ""

    # -- a live call ------------------------------------------------------------------------

    async def add_usage(self, tenant: str, call_id: str, usage: UsageReport) -> None:
        entry = self._calls.get((tenant, call_id))
        if entry is None or entry.record.state != "live":
            return
        record = entry.record
        tokens_in, tokens_out = record.tokens_in, record.tokens_out
        if not usage.response_id or usage.response_id not in entry.responses:
            if usage.response_id:
                entry.responses.add(usage.response_id)
            tokens_in += usage.tokens_in
            tokens_out += usage.tokens_out
        audio = record.audio_ms
        if usage.audio_ms is not None and (audio is None or usage.audio_ms > audio):
            audio = usage.audio_ms
        entry.record = record.with_state(tokens_in=tokens_in, tokens_out=tokens_out, audio_ms=audio)

    async def mark_ending(
        self, tenant: str, call_id: str, reason: EndedReason, claim_ms: int
    ) -> None:
        entry = self._calls.get((tenant, call_id))
        if entry is None or entry.record.state != "live":
            return
        now = self._clock()
        record = entry.record
        entry.record = record.with_state(
            hangup_ms=record.hangup_ms if record.hangup_ms is not None else now,
            ending_reason=record.ending_reason or reason,
        )
        entry.claim_until_ms = entry.due_ms = now + claim_ms

    async def end(
        self,
        tenant: str,
        call_id: str,
        reason: EndedReason,
        op: str,
        *,
        final_audio_ms: int | None = None,
        until_ms: int | None = None,
    ) -> CallEnd | None:
        entry = self._calls.get((tenant, call_id))
        if entry is None:
            return None
        record = entry.record
        if record.state == "ended":
            return _call_end(record) if entry.end_op == op else None
        if record.state != "live":
            return None
        now = self._clock()
        if reason == "provider_closed" and record.ending_reason is not None:
            reason = record.ending_reason  # the close answers a hang-up the gateway asked for
        audio = record.audio_ms
        if final_audio_ms is not None and (audio is None or final_audio_ms > audio):
            audio = final_audio_ms
        if audio is not None:
            billed = audio
        else:
            until = min(m for m in (now, record.hangup_ms, until_ms) if m is not None)
            billed = max(0, until - record.started_ms)
        entry.record = record = record.with_state(
            state="ended", ended_ms=now, ended_reason=reason, billed_ms=billed, audio_ms=audio
        )
        entry.end_op = op
        self._count(tenant, record, now)
        return _call_end(record)

    def _count(self, tenant: str, record: CallRecord, now: int) -> None:
        days = self._ledger[tenant]
        today = utc_day(now)
        day = days.setdefault(today, _Day())
        day.calls += 1
        day.audio_ms += record.billed_ms or 0
        day.tokens_in += record.tokens_in
        day.tokens_out += record.tokens_out
        per = day.by_transport.setdefault(record.transport, [0, 0])
        per[0] += 1
        per[1] += record.billed_ms or 0
        for old in [d for d in days if d <= today - LEDGER_RETENTION_DAYS]:
            del days[old]

    # -- reading ----------------------------------------------------------------------------

    async def get(self, tenant: str, call_id: str) -> CallRecord | None:
        entry = self._calls.get((tenant, call_id))
        return entry.record if entry is not None else None

    async def live_calls(self, tenant: str) -> list[CallRecord]:
        live = [e.record for e in self._entries(tenant) if e.record.state == "live"]
        return sorted(live, key=lambda r: (r.started_ms, r.call_id))

    async def slots_taken(self, tenant: str) -> int:
        return self._taken(tenant, self._clock())

    async def spent_today_ms(self, tenant: str) -> int:
        return self._spent(tenant, self._clock())

    async def usage(self, tenant: str, days: int) -> list[DayUsage]:
        today = utc_day(self._clock())
        ledger = self._ledger[tenant]
        out: list[DayUsage] = []
        for back in range(days):
            day = ledger.get(today - back, _Day())
            out.append(
                DayUsage(
                    day=day_name(today - back),
                    calls=day.calls,
                    audio_ms=day.audio_ms,
                    tokens_in=day.tokens_in,
                    tokens_out=day.tokens_out,
                    by_transport={t: (c, m) for t, (c, m) in day.by_transport.items()},
                )
            )
        return out

    # -- the reaper -------------------------------------------------------------------------

    async def claim_due(self, tenant: str, policy: TenantPolicy, claim_ms: int) -> ClaimPass:
        now = self._clock()
        budget = policy.daily_audio_seconds
        over_budget = budget is not None and self._spent(tenant, now) >= budget * 1000
        claims: list[Claim] = []
        for entry in sorted(self._entries(tenant), key=lambda e: e.record.call_id):
            record = entry.record
            if entry.claim_until_ms > now:
                continue
            reason: ClaimReason | None = None
            if record.state == "admitted":
                if now >= entry.due_ms:
                    reason = "stale_admission"
            elif now >= record.deadline_ms:
                reason = "max_duration"
            elif over_budget:
                reason = "quota_exceeded"
            if reason is None:
                continue
            entry.claim_until_ms = entry.due_ms = now + claim_ms
            past_grace = now >= record.deadline_ms + self._grace
            claims.append(Claim(record, reason, past_grace))
        return ClaimPass(claims, self._next_due(tenant, policy, now))

    def _next_due(self, tenant: str, policy: TenantPolicy, now: int) -> int | None:
        entries = self._entries(tenant)
        if not entries:
            return None
        due = min(e.due_ms for e in entries)
        budget = policy.daily_audio_seconds
        if budget is not None:
            left = budget * 1000 - self._spent(tenant, now)
            if left > 0:  # each live call spends at most a second a second
                due = min(due, now + max(1000, left // len(entries)))
        return due

    async def aclose(self) -> None:
        self._calls.clear()
        self._grants.clear()


class MemoryFleet:
    """The fleet of one process: the reaper's index of tenants, and one holder that never dies."""

    def __init__(self, store: MemoryCallStore) -> None:
        self._store = store
        self._index: dict[str, tuple[int, int]] = {}  # tenant -> (due ms, generation)

    async def touch(self, tenant: str) -> None:
        now = await self._store.now_ms()
        due, generation = self._index.get(tenant, (now, 0))
        self._index[tenant] = (min(due, now), generation + 1)

    async def due_tenants(self) -> list[DueTenant]:
        now = await self._store.now_ms()
        return [DueTenant(t, str(g)) for t, (due, g) in sorted(self._index.items()) if due <= now]

    async def settle(self, due: DueTenant, next_due_ms: int | None) -> None:
        current = self._index.get(due.tenant)
        if current is None or str(current[1]) != due.mark:
            return
        if next_due_ms is None:
            del self._index[due.tenant]
        else:
            self._index[due.tenant] = (next_due_ms, current[1])

    async def indexed_tenants(self) -> list[str]:
        return sorted(self._index)

    async def beat(self, holder: str, ttl_ms: int, *, first: bool = False) -> Beat:
        return Beat(alive=True, dead=[])

    async def adopt(self, tenant: str, dead: list[str], holder: str) -> list[CallRecord]:
        return []

    async def bury(self, dead: str) -> None:
        return None

    async def let_go(self, holder: str) -> None:
        return None

    async def aclose(self) -> None:
        self._index.clear()


def _call_end(record: CallRecord) -> CallEnd:
    assert record.ended_reason is not None and record.ended_ms is not None
    return CallEnd(
        tenant=record.tenant,
        call_id=record.call_id,
        transport=record.transport,
        reason=record.ended_reason,
        billed_ms=record.billed_ms or 0,
        tokens_in=record.tokens_in,
        tokens_out=record.tokens_out,
        started_ms=record.started_ms,
        ended_ms=record.ended_ms,
    )


__all__ = ["MemoryCallStore", "MemoryFleet", "Transport", "wall_clock_ms"]
