"""What the leash's stores hand back, and the one interface both stores (Redis, memory) keep.

Times are seconds since the epoch (floats); a store judges time by one clock (Redis `TIME` for
the shared store) so replicas with drifting clocks still agree on deadlines and days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, Protocol

from realtime_gateway.gateway.leash.policy import TenantPolicy

EndedReason = Literal[
    "max_duration", "quota_exceeded", "caller_hangup", "provider_closed", "gateway_hangup"
]
ENDED_REASONS: tuple[EndedReason, ...] = (
    "max_duration",
    "quota_exceeded",
    "caller_hangup",
    "provider_closed",
    "gateway_hangup",
)
DAY_SECONDS = 86400

# How long after its deadline a call whose end was never confirmed still holds a slot.
DEFAULT_GRACE_SECONDS = 30.0
# How long a replica's claim on a due call keeps the others away while it hangs up.
DEFAULT_CLAIM_SECONDS = 10.0


def utc_day(timestamp: float) -> int:
    """Days since 1970-01-01 in UTC: the ledger's day."""
    return int(timestamp // DAY_SECONDS)


def day_name(day: int) -> str:
    return date.fromordinal(date(1970, 1, 1).toordinal() + day).isoformat()


def seconds_to_midnight(timestamp: float) -> int:
    """Whole seconds until 00:00 UTC, when the daily budget resets (at least 1)."""
    return max(1, DAY_SECONDS - int(timestamp) % DAY_SECONDS)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Admission:
    """A reserved slot: the call may be created upstream and must end before `deadline`."""

    tenant: str
    call_id: str
    started_at: float
    deadline: float


@dataclass(frozen=True)
class DueCall:
    """A call this replica claimed to hang up: its deadline passed or its tenant's budget ran
    out. `past_grace`: its end is overdue, end it even if the provider cannot be reached."""

    tenant: str
    call_id: str
    reason: EndedReason
    provider: str | None
    provider_call_id: str | None
    past_grace: bool


@dataclass(frozen=True)
class CallEnd:
    """A call's end, as counted in the ledger (exactly once per call)."""

    tenant: str
    call_id: str
    reason: EndedReason
    seconds: float
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class CallStatus:
    """What `GET /realtime_calls/{id}` shows of the leash's record of a call."""

    tenant: str
    call_id: str
    state: Literal["live", "ended"]
    started_at: float
    deadline: float
    seconds: float
    tokens_in: int
    tokens_out: int
    ended_reason: EndedReason | None


@dataclass(frozen=True)
class DayUsage:
    day: str  # YYYY-MM-DD, UTC
    calls: int
    audio_seconds: float
    tokens_in: int
    tokens_out: int


class LeashStore(Protocol):
    """Admission, usage, ends and claims of live calls; every method is atomic per call."""

    backend: str

    async def admit(self, tenant: str, call_id: str, policy: TenantPolicy) -> Admission:
        """Reserve a slot, or raise `TooManyCalls` / `QuotaExceeded`. One atomic step."""
        ...

    async def attach(self, tenant: str, call_id: str, provider: str, provider_call_id: str) -> None:
        """Name the upstream call, so any replica can hang it up."""
        ...

    async def release(self, tenant: str, call_id: str) -> None:
        """Give back a slot whose call was never created upstream (nothing counted)."""
        ...

    async def add_usage(
        self,
        tenant: str,
        call_id: str,
        *,
        audio_seconds: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        """Record usage read from the sideband: cumulative audio seconds, token increments."""
        ...

    async def end(
        self, tenant: str, call_id: str, reason: EndedReason, audio_seconds: float | None = None
    ) -> CallEnd | None:
        """End a live call and count it in the ledger; None when it had already ended."""
        ...

    async def mark_ending(
        self, tenant: str, call_id: str, reason: EndedReason, claim_seconds: float
    ) -> None:
        """Before the gateway hangs up: keep the reaper off the call, and count the provider's
        close that follows under `reason`."""
        ...

    async def live_calls(self, tenant: str) -> list[str]: ...

    async def claim_due(
        self, tenant: str, policy: TenantPolicy, claim_seconds: float
    ) -> list[DueCall]:
        """Claim the tenant's calls past their deadline, or all its live calls when its
        budget is spent; a claimed call is not handed to anyone else for `claim_seconds`."""
        ...

    async def active_tenants(self, horizon: float) -> list[str]:
        """Tenants that admitted a call within `horizon` seconds: the only ones that can
        still have live calls."""
        ...

    async def live_count(self, tenant: str) -> int: ...

    async def status(self, tenant: str, call_id: str) -> CallStatus | None: ...

    async def usage(self, tenant: str, days: int) -> list[DayUsage]:
        """Today first, then earlier UTC days, `days` entries in all."""
        ...

    async def aclose(self) -> None: ...
