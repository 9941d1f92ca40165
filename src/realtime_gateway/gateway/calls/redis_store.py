"""The call store in Redis, shared by every replica: the leash's rules as Lua scripts
(`scripts.py`), on one tenant's slot each. Any Redis failure surfaces as `StoreUnavailable`
(503 `calls_unavailable`), mapped here and nowhere else.

    rtg:{t}:call:<id>             the call's record (hash)
    rtg:{t}:call:<id>:responses   response ids already counted (set)
    rtg:{t}:token:<digest>        what a call token grants (hash)
    rtg:{t}:calls | due | meter | ledger | ledger:days    the tenant's indexes (scripts.py)
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from realtime_gateway.gateway.calls import scripts
from realtime_gateway.gateway.calls.record import (
    TRANSPORTS,
    CallRecord,
    CallSpec,
    EndedReason,
    Transport,
)
from realtime_gateway.gateway.calls.store import (
    DEFAULT_GRACE_MS,
    KEEP_ENDED_MS,
    LEDGER_RETENTION_DAYS,
    AdmitRequest,
    CallEnd,
    Claim,
    ClaimPass,
    ClaimReason,
    DayUsage,
    StoreUnavailable,
    UsageReport,
    day_name,
    utc_day,
)
from realtime_gateway.gateway.calls.tokens import token_digest
from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls, Unauthorized
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.redisconn import REDIS_FAILURES, SharedRedis, tenant_key

FixedClock = Callable[[], int] | None


@contextmanager
def store_guard() -> Iterator[None]:
    """Redis failing, however it fails, is the store being unavailable."""
    try:
        yield
    except REDIS_FAILURES as error:
        raise StoreUnavailable("the shared call state (Redis) is unreachable; try again") from error


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pairs(raw: Any) -> dict[str, str]:
    """A hash as a dict of text, from HGETALL's dict or a script's flat list."""
    if isinstance(raw, dict):
        return {text(k): text(v) for k, v in raw.items()}
    return {text(k): text(v) for k, v in zip(raw[0::2], raw[1::2], strict=True)}


def _optional_int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def record_from(tenant: str, fields: dict[str, str]) -> CallRecord:
    """A record read back from its hash."""
    return CallRecord(
        call_id=fields["id"],
        tenant=tenant,
        state=cast(Any, fields["state"]),
        transport=cast(Transport, fields["transport"]),
        spec=CallSpec.from_json(fields["spec"]),
        started_ms=int(fields["started"]),
        deadline_ms=int(fields["deadline"]),
        provider_call_id=fields.get("pcall", ""),
        token_digest=fields.get("token", ""),
        holder=fields.get("holder", ""),
        audio_ms=_optional_int(fields.get("audio_ms")),
        tokens_in=int(fields.get("tin", "0")),
        tokens_out=int(fields.get("tout", "0")),
        hangup_ms=_optional_int(fields.get("hangup")),
        ending_reason=cast(Any, fields.get("ending_reason")),
        ended_ms=_optional_int(fields.get("ended")),
        ended_reason=cast(Any, fields.get("reason")),
        billed_ms=_optional_int(fields.get("billed")),
    )


class TenantKeys:
    """One tenant's key names (all in its hash slot)."""

    def __init__(self, tenant: str) -> None:
        self.calls = tenant_key(tenant, "calls")
        self.due = tenant_key(tenant, "due")
        self.meter = tenant_key(tenant, "meter")
        self.ledger = tenant_key(tenant, "ledger")
        self.days = tenant_key(tenant, "ledger", "days")
        self._tenant = tenant

    def call(self, call_id: str) -> str:
        return tenant_key(self._tenant, "call", call_id)

    def responses(self, call_id: str) -> str:
        return tenant_key(self._tenant, "call", call_id, "responses")

    def token(self, digest: str) -> str:
        return tenant_key(self._tenant, "token", digest or "-")


class RedisCallStore:
    """`clock` is a seam for tests that move time (the scripts then take that time); left
    None, as everywhere outside tests, every script reads Redis `TIME`."""

    backend = "redis"

    def __init__(
        self,
        client: SharedRedis,
        *,
        grace_ms: int = DEFAULT_GRACE_MS,
        clock: FixedClock = None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self._grace = grace_ms
        self._clock = clock
        self._owns_client = owns_client
        register = client.register_script
        self._put_grant = register(scripts.PUT_GRANT)
        self._admit = register(scripts.ADMIT)
        self._attach = register(scripts.ATTACH)
        self._release = register(scripts.RELEASE)
        self._usage = register(scripts.USAGE)
        self._mark_ending = register(scripts.MARK_ENDING)
        self._end = register(scripts.END)
        self._candidates = register(scripts.CANDIDATES)
        self._claim = register(scripts.CLAIM)
        self._slots = register(scripts.SLOTS)
        self._spent = register(scripts.SPENT)
        self._adopt = register(scripts.ADOPT)
        self._remember = register(scripts.REMEMBER)

    def _now_arg(self) -> int:
        return self._clock() if self._clock is not None else -1

    async def now_ms(self) -> int:
        if self._clock is not None:
            return self._clock()
        with store_guard():
            seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def put_grant(self, token: str, tenant: str, spec: CallSpec, ttl_seconds: int) -> int:
        key = TenantKeys(tenant).token(token_digest(token))
        with store_guard():
            expires = await self._put_grant(
                keys=[key], args=[self._now_arg(), spec.to_json(), ttl_seconds * 1000]
            )
        return int(expires)

    async def admit(self, request: AdmitRequest) -> CallRecord:
        keys = TenantKeys(request.tenant)
        digest = token_digest(request.token) if request.token else ""
        policy = request.policy
        keep_ms = (policy.max_call_seconds * 1000 + self._grace + request.attach_window_ms) + (
            KEEP_ENDED_MS
        )
        with store_guard():
            reply = await self._admit(
                keys=[
                    keys.calls,
                    keys.due,
                    keys.meter,
                    keys.ledger,
                    keys.call(request.call_id),
                    keys.token(digest),
                ],
                args=[
                    self._now_arg(),
                    request.call_id,
                    policy.max_concurrent_calls,
                    policy.max_call_seconds * 1000,
                    -1 if policy.daily_audio_seconds is None else policy.daily_audio_seconds * 1000,
                    self._grace,
                    request.attach_window_ms,
                    keep_ms,
                    1 if request.token else 0,
                    request.transport,
                    "" if request.spec is None else request.spec.to_json(),
                    request.provider_call_id,
                    digest,
                    1 if request.enforce else 0,
                ],
            )
        if int(reply[0]) == 0:
            refusal = text(reply[1])
            if refusal == "unauthorized":
                raise Unauthorized("unknown, expired or already used call token")
            if refusal == "quota_exceeded":
                raise QuotaExceeded(
                    "the tenant's daily audio budget is spent",
                    retry_after=-(-int(reply[2]) // 1000),
                )
            raise TooManyCalls(
                f"the tenant has {policy.max_concurrent_calls} live calls, its limit"
            )
        return CallRecord(
            call_id=request.call_id,
            tenant=request.tenant,
            state="admitted",
            transport=request.transport,
            spec=CallSpec.from_json(text(reply[3])),
            started_ms=int(reply[1]),
            deadline_ms=int(reply[2]),
            provider_call_id=request.provider_call_id,
            token_digest=digest,
        )

    async def attach(
        self,
        tenant: str,
        call_id: str,
        provider_call_id: str,
        holder: str,
        spec: CallSpec | None = None,
    ) -> bool:
        keys = TenantKeys(tenant)
        with store_guard():
            done = await self._attach(
                keys=[keys.due, keys.call(call_id)],
                args=[
                    self._now_arg(),
                    call_id,
                    provider_call_id,
                    holder,
                    spec.to_json() if spec is not None else "",
                ],
            )
        return bool(int(done))

    async def release(self, tenant: str, call_id: str) -> None:
        keys = TenantKeys(tenant)
        with store_guard():
            digest = text(await self.client.hget(keys.call(call_id), "token") or "")
            await self._release(
                keys=[keys.calls, keys.due, keys.meter, keys.call(call_id), keys.token(digest)],
                args=[self._now_arg(), call_id],
            )

    async def add_usage(self, tenant: str, call_id: str, usage: UsageReport) -> None:
        keys = TenantKeys(tenant)
        with store_guard():
            await self._usage(
                keys=[keys.meter, keys.call(call_id), keys.responses(call_id)],
                args=[
                    self._now_arg(),
                    usage.response_id,
                    usage.tokens_in,
                    usage.tokens_out,
                    -1 if usage.audio_ms is None else usage.audio_ms,
                    KEEP_ENDED_MS * 2,
                ],
            )

    async def mark_ending(
        self, tenant: str, call_id: str, reason: EndedReason, claim_ms: int
    ) -> None:
        keys = TenantKeys(tenant)
        with store_guard():
            await self._mark_ending(
                keys=[keys.due, keys.call(call_id)],
                args=[self._now_arg(), call_id, reason, claim_ms],
            )

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
        keys = TenantKeys(tenant)
        with store_guard():
            reply = await self._end(
                keys=[
                    keys.calls,
                    keys.due,
                    keys.meter,
                    keys.ledger,
                    keys.days,
                    keys.call(call_id),
                    keys.responses(call_id),
                ],
                args=[
                    self._now_arg(),
                    call_id,
                    reason,
                    op,
                    -1 if final_audio_ms is None else final_audio_ms,
                    -1 if until_ms is None else until_ms,
                    KEEP_ENDED_MS,
                    LEDGER_RETENTION_DAYS,
                ],
            )
        if int(reply[0]) == 0:
            return None
        return CallEnd(
            tenant=tenant,
            call_id=call_id,
            billed_ms=int(reply[1]),
            tokens_in=int(reply[2]),
            tokens_out=int(reply[3]),
            reason=cast(EndedReason, text(reply[4])),
            transport=cast(Transport, text(reply[5])),
            started_ms=int(reply[6]),
            ended_ms=int(reply[7]),
        )

    async def get(self, tenant: str, call_id: str) -> CallRecord | None:
        with store_guard():
            raw = await self.client.hgetall(TenantKeys(tenant).call(call_id))
        return record_from(tenant, pairs(raw)) if raw else None

    async def records(self, tenant: str, call_ids: list[str]) -> list[CallRecord]:
        """The records of these calls that still exist, in one round trip."""
        if not call_ids:
            return []
        keys = TenantKeys(tenant)
        with store_guard():
            async with self.client.pipeline(transaction=False) as pipe:
                for call_id in call_ids:
                    pipe.hgetall(keys.call(call_id))
                answers = await pipe.execute()
        return [
            record_from(tenant, pairs(raw))
            for call_id, raw in zip(call_ids, answers, strict=True)
            if raw
        ]

    async def call_ids(self, tenant: str) -> list[str]:
        with store_guard():
            ids = await self.client.zrange(TenantKeys(tenant).calls, 0, -1)
        return [text(i) for i in ids]

    async def live_calls(self, tenant: str) -> list[CallRecord]:
        records = await self.records(tenant, await self.call_ids(tenant))
        live = [r for r in records if r.state == "live"]
        return sorted(live, key=lambda r: (r.started_ms, r.call_id))

    async def slots_taken(self, tenant: str) -> int:
        with store_guard():
            taken = await self._slots(
                keys=[TenantKeys(tenant).calls], args=[self._now_arg(), self._grace]
            )
        return int(taken)

    async def spent_today_ms(self, tenant: str) -> int:
        keys = TenantKeys(tenant)
        with store_guard():
            spent = await self._spent(keys=[keys.meter, keys.ledger], args=[self._now_arg()])
        return int(spent)

    async def usage(self, tenant: str, days: int) -> list[DayUsage]:
        today = utc_day(await self.now_ms())
        wanted = [today - back for back in range(days)]
        kinds = ["calls", "ms", "tin", "tout"] + [
            f"{transport}:{what}" for transport in TRANSPORTS for what in ("calls", "ms")
        ]
        names = [f"{day}:{kind}" for day in wanted for kind in kinds]
        with store_guard():
            values = await self.client.hmget(TenantKeys(tenant).ledger, names)
        figures = [int(v) if v is not None else 0 for v in values]
        out: list[DayUsage] = []
        for i, day in enumerate(wanted):
            row = dict(zip(kinds, figures[i * len(kinds) : (i + 1) * len(kinds)], strict=True))
            out.append(
                DayUsage(
                    day=day_name(day),
                    calls=row["calls"],
                    audio_ms=row["ms"],
                    tokens_in=row["tin"],
                    tokens_out=row["tout"],
                    by_transport={
                        t: (row[f"{t}:calls"], row[f"{t}:ms"])
                        for t in TRANSPORTS
                        if row[f"{t}:calls"]
                    },
                )
            )
        return out

    async def claim_due(self, tenant: str, policy: TenantPolicy, claim_ms: int) -> ClaimPass:
        keys = TenantKeys(tenant)
        budget = -1 if policy.daily_audio_seconds is None else policy.daily_audio_seconds * 1000
        with store_guard():
            ids = [
                text(i)
                for i in await self._candidates(
                    keys=[keys.calls, keys.due, keys.meter, keys.ledger],
                    args=[self._now_arg(), budget],
                )
            ]
            reply = await self._claim(
                keys=[keys.calls, keys.due, keys.meter, keys.ledger, *map(keys.call, ids)],
                args=[self._now_arg(), claim_ms, self._grace, budget, *ids],
            )
        claims: list[Claim] = []
        for reason, past, fields in reply[0]:
            claims.append(
                Claim(
                    record=record_from(tenant, pairs(fields)),
                    reason=cast(ClaimReason, text(reason)),
                    past_grace=bool(int(past)),
                )
            )
        claims.sort(key=lambda claim: claim.record.call_id)
        next_due = int(reply[1])
        return ClaimPass(claims, None if next_due < 0 else next_due)

    async def remember(self, scope: str, key: str, ttl_ms: int) -> bool:
        # The value is this operation's id, so a retry after a lost reply still says True.
        op = new_op()
        name = tenant_key(scope, "seen", hashlib.sha256(key.encode()).hexdigest()[:32])
        for attempt in (1, 2):
            try:
                with store_guard():
                    return bool(await self._remember(keys=[name], args=[op, ttl_ms]))
            except StoreUnavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def adopt(self, tenant: str, dead: list[str], holder: str) -> list[CallRecord]:
        """The tenant's live calls held by one of `dead`, now held by `holder`."""
        ids = await self.call_ids(tenant)
        if not ids:
            return []
        keys = TenantKeys(tenant)
        with store_guard():
            reply = await self._adopt(keys=[keys.call(i) for i in ids], args=[holder, *dead])
        return [record_from(tenant, pairs(fields)) for fields in reply]

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


def new_op() -> str:
    """An operation id: lets a script run twice know it is the same operation."""
    return secrets.token_hex(8)
