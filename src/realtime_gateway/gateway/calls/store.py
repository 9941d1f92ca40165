"""The call store: the one home of call records, call tokens, the live-call cap, the daily
budget, deadlines and the usage ledger, and the one interface both backends keep.

    MemoryCallStore   one process (no Redis): the rules in Python       (memory_store.py)
    RedisCallStore    every replica: the same rules as Lua scripts      (redis_store.py)

A Hypothesis state machine (tests/integration/test_call_store_model.py) runs the same
operations against both and requires the same answers. Every operation is atomic and safe to
run twice: a retry after a lost reply gets the first run's answer (admission by call id, usage
by response id, an end by its operation id), never a second effect.

Beside the calls, `Fleet` is what the gateway processes share to keep every call on the leash:
the reapers' index of tenants with something due, and the registry of live holders (the
processes holding calls' sidebands or WebSockets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec, EndedReason, Transport
from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.policy import TenantPolicy

DAY_MS = 86_400_000
# How long after its deadline a call whose end was never confirmed still holds a slot, and
# after which the reaper ends it in the ledger even if the provider cannot be reached.
DEFAULT_GRACE_MS = 30_000
# An ended call stays readable (`GET /realtime_calls/{id}`) this long.
KEEP_ENDED_MS = DAY_MS
# Ledger days older than this are dropped.
LEDGER_RETENTION_DAYS = 400

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

ClaimReason = Literal["max_duration", "quota_exceeded", "stale_admission"]


class StoreUnavailable(CallsUnavailable):
    """The shared store (Redis) did not answer: 503 `calls_unavailable` wherever it surfaces."""


def utc_day(moment_ms: int) -> int:
    """Days since 1970-01-01 in UTC: the ledger's day."""
    return moment_ms // DAY_MS


def day_name(day: int) -> str:
    """`2026-12-02` for a ledger day."""
    return date.fromordinal(EPOCH_ORDINAL + day).isoformat()


def ms_to_midnight(moment_ms: int) -> int:
    return DAY_MS - moment_ms % DAY_MS


@dataclass(frozen=True)
class AdmitRequest:
    """Take a slot for a call. `spec` None: the call token's grant says what the call is.
    `provider_call_id` is given when the provider's call exists before admission (a phone
    call), so whoever finds the admission stale can hang it up. `enforce` False admits with a
    deadline but without the cap and budget (failure mode `allow`)."""

    tenant: str
    call_id: str
    transport: Transport
    policy: TenantPolicy
    attach_window_ms: int
    spec: CallSpec | None = None
    token: str | None = None
    provider_call_id: str = ""
    enforce: bool = True


@dataclass(frozen=True)
class UsageReport:
    """Usage read off the provider: `response_id` makes token counts idempotent (one response
    is counted once however many sidebands report it); `audio_ms` is cumulative."""

    response_id: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    audio_ms: int | None = None


@dataclass(frozen=True)
class CallEnd:
    """A call's end, as counted in the ledger (exactly once per call)."""

    tenant: str
    call_id: str
    transport: Transport
    reason: EndedReason
    billed_ms: int
    tokens_in: int
    tokens_out: int
    started_ms: int
    ended_ms: int

    @property
    def seconds(self) -> float:
        return self.billed_ms / 1000


@dataclass(frozen=True)
class Claim:
    """A call this process claimed to act on: hang it up (deadline passed, budget spent), or
    an admission that never became a call (`stale_admission`: release it, and hang up the
    provider's call when one is known). No other process is handed it for `claim_ms`."""

    record: CallRecord
    reason: ClaimReason
    past_grace: bool


@dataclass(frozen=True)
class ClaimPass:
    claims: list[Claim]
    next_due_ms: int | None  # when the tenant next has something due; None: nothing live


@dataclass(frozen=True)
class DayUsage:
    day: str  # YYYY-MM-DD, UTC
    calls: int
    audio_ms: int
    tokens_in: int
    tokens_out: int
    by_transport: dict[str, tuple[int, int]]  # transport -> (calls, audio ms)


@dataclass(frozen=True)
class DueTenant:
    tenant: str
    mark: str  # what the index held when read: `settle` changes nothing if it moved since


@dataclass(frozen=True)
class DeadHolder:
    holder: str
    last_beat_ms: int  # a WebSocket session it relayed is billed up to here


@dataclass(frozen=True)
class Beat:
    alive: bool  # False: this holder was presumed dead (its calls are being taken over)
    dead: list[DeadHolder]  # holders whose beats stopped, now this caller's to take over


class CallStore(Protocol):
    backend: str  # "memory" or "redis"

    async def now_ms(self) -> int:
        """The store's clock (Redis `TIME`): the one clock every decision uses."""
        ...

    async def put_grant(self, token: str, tenant: str, spec: CallSpec, ttl_seconds: int) -> int:
        """Keep what `token` grants for `ttl_seconds`; returns its expiry (store clock, ms)."""
        ...

    async def admit(self, request: AdmitRequest) -> CallRecord:
        """The admitted record; or `Unauthorized` (token unknown, expired or used by another
        call), `TooManyCalls`, `QuotaExceeded`. Run again with the same call id: the same
        record."""
        ...

    async def attach(
        self,
        tenant: str,
        call_id: str,
        provider_call_id: str,
        holder: str,
        spec: CallSpec | None = None,
    ) -> bool:
        """The provider created the call: it is live, held by `holder`. False when the
        admission is gone (released as stale): the caller must undo the provider's call.
        `spec`: what the call became when it was answered (a forwarded phone call's model and
        voice are the tenant's answer's), kept in place of the admitted one."""
        ...

    async def release(self, tenant: str, call_id: str) -> None:
        """Give back the slot of an admission that never became a call; nothing is counted and
        the call token (if any) may be used again."""
        ...

    async def add_usage(self, tenant: str, call_id: str, usage: UsageReport) -> None: ...

    async def mark_ending(
        self, tenant: str, call_id: str, reason: EndedReason, claim_ms: int
    ) -> None:
        """Before the gateway hangs up: the call is billed up to now, the provider's close that
        follows counts under `reason`, and reapers keep off it for `claim_ms`."""
        ...

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
        """End a live call and count it in the ledger: the `CallEnd` for the caller whose
        operation `op` ended it (also when `op` is run again), None for anyone else.
        `until_ms` caps the time billed (a holder that died at that moment)."""
        ...

    async def get(self, tenant: str, call_id: str) -> CallRecord | None: ...

    async def live_calls(self, tenant: str) -> list[CallRecord]:
        """The tenant's live calls, oldest first (admissions not yet live are left out)."""
        ...

    async def slots_taken(self, tenant: str) -> int:
        """Admissions and live calls holding one of the tenant's slots."""
        ...

    async def spent_today_ms(self, tenant: str) -> int:
        """Audio the tenant used today: the ledger's ended calls plus its live calls so far."""
        ...

    async def usage(self, tenant: str, days: int) -> list[DayUsage]:
        """Today first, then earlier UTC days, `days` entries in all."""
        ...

    async def claim_due(self, tenant: str, policy: TenantPolicy, claim_ms: int) -> ClaimPass: ...

    async def remember(self, scope: str, key: str, ttl_ms: int) -> bool:
        """True the first time `key` is seen in `scope` within `ttl_ms` (store clock), False
        after: a webhook delivery or a provider's call acted on once, by every replica."""
        ...

    async def aclose(self) -> None: ...


class Fleet(Protocol):
    """What the gateway processes share beside the calls: the reapers' index and the holders."""

    async def touch(self, tenant: str) -> None:
        """Name the tenant to the reapers (before admitting: a process killed right after an
        admission leaves a call that every reaper knows where to look for)."""
        ...

    async def due_tenants(self) -> list[DueTenant]: ...

    async def settle(self, due: DueTenant, next_due_ms: int | None) -> None:
        """After a sweep: when the tenant is next due (None: drop it from the index), unless an
        admission touched it meanwhile."""
        ...

    async def indexed_tenants(self) -> list[str]:
        """Every tenant the index knows: where a dead holder's calls may be."""
        ...

    async def beat(self, holder: str, ttl_ms: int, *, first: bool = False) -> Beat:
        """Say `holder` is alive for `ttl_ms` (`first`: it registers). Hands the caller, for a
        while, the dead holders nobody else is taking over."""
        ...

    async def adopt(self, tenant: str, dead: list[str], holder: str) -> list[CallRecord]:
        """Make `holder` the holder of the tenant's live calls held by a dead holder."""
        ...

    async def bury(self, dead: str) -> None:
        """Every call of a dead holder has been taken over: forget it."""
        ...

    async def let_go(self, holder: str) -> None:
        """A graceful stop: this holder's calls are to be taken over at once."""
        ...

    async def aclose(self) -> None: ...
