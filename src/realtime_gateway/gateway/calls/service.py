"""Making, reading and ending calls, for every transport, on the one call record.

    Calls.mint_token(tenant, request)       a call token in place of a provider secret
    Calls.admit(tenant, transport, ...)     a slot (429 when refused), in the shared store or,
                                            with Redis down, by the failure mode
    Calls.connect_webrtc(admission, sdp)    the provider creates the call; it goes live
    Calls.abandon(admission)                an admission that will not become a call
    Calls.end(record, reason)               hang up, then count the end once
    Calls.find / find_for_token             a tenant's call (404 for anyone else's)

Every admission ends in exactly one of: a live call recorded with its provider id, or a
released slot with the provider's call (if one was made) hung up. What undoes a step is written
before the step: the admitted record names the slot; a phone call's provider id is admitted with
it; a WebRTC call's answer goes to the caller only once the call is recorded live (a call the
caller never got the answer of carries no media, and the provider drops it).

Redis down at admission, for calls made with a tenant credential: `deny` answers 503
`limiter_unavailable`; `local` admits against this process's own store under the tenant's cap;
`allow` admits there without cap or budget, but with its deadline. Call tokens live only in the
shared store, so a call token cannot be redeemed while Redis is down (503 `calls_unavailable`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, ParamSpec, TypeVar

from realtime_gateway.gateway.calls.record import (
    CallRecord,
    CallSpec,
    EndedReason,
    Transport,
    new_call_id,
)
from realtime_gateway.gateway.calls.store import (
    AdmitRequest,
    CallEnd,
    CallStore,
    Fleet,
    StoreUnavailable,
)
from realtime_gateway.gateway.calls.tokens import mint_token, token_digest, token_tenant
from realtime_gateway.gateway.errors import LimiterUnavailable, NotFound, ProviderError
from realtime_gateway.gateway.policy import Policies
from realtime_gateway.gateway.providers.base import MintedSession
from realtime_gateway.gateway.providers.protocol import CallControl, MalformedCall, Provider
from realtime_gateway.gateway.providers.registry import provider_for, provider_named

log = logging.getLogger("realtime_gateway.gateway.calls")

CallMode = Literal["direct", "brokered"]
FailureMode = Literal["local", "deny", "allow"]
OnEnd = Callable[[CallEnd], Awaitable[None]]
HoldCall = Callable[[CallRecord], Awaitable[None]]
CloseSession = Callable[[CallRecord, EndedReason], Awaitable[bool]]


@dataclass(frozen=True)
class Admission:
    record: CallRecord
    store: CallStore  # the shared store, or this process's own when Redis failed


@dataclass(frozen=True)
class CallsConfig:
    default_mode: CallMode
    tenant_modes: dict[str, str]
    secret_ttl: int
    failure_mode: FailureMode
    attach_window_ms: int  # an admission not live by then is stale (a reaper releases it)
    claim_ms: int  # how long a process that is hanging a call up keeps others off it


async def _nothing(end: CallEnd) -> None:
    return None


class Calls:
    def __init__(
        self,
        config: CallsConfig,
        *,
        store: CallStore,
        fleet: Fleet,
        local: CallStore,
        local_fleet: Fleet,
        policies: Policies,
        control: CallControl,
        holder: Callable[[], str],
    ) -> None:
        """`local` (and `local_fleet`) hold what the failure mode admits while `store` fails;
        without Redis they are `store` itself. `holder()` names this process to the fleet."""
        self.config = config
        self.store = store
        self.fleet = fleet
        self.local = local
        self.local_fleet = local_fleet
        self.policies = policies
        self.control = control
        self.holder = holder
        self.on_end: list[OnEnd] = []
        self.on_live: list[HoldCall] = []  # the sideband watcher holds a call that went live
        self.close_session: CloseSession | None = None  # WebSocket sessions relayed here
        self.after_live: Callable[[str], Awaitable[object]] | None = None  # the replica wait
        self.unanswered: HoldCall | None = None  # a ringing phone call nobody answered in time

    # -- modes and tokens -------------------------------------------------------------------

    def mode_for(self, tenant: str, model: str, endpoint: str) -> CallMode:
        provider, _ = provider_for(endpoint, model)
        if not provider.mints:
            return "brokered"
        mode = self.config.tenant_modes.get(tenant, self.config.default_mode)
        return "brokered" if mode == "brokered" else "direct"

    def spec_for(
        self, endpoint: str, model: str, voice: str, session: dict[str, object] | None = None
    ) -> CallSpec:
        """What a call minted against `endpoint` is: its provider and where it is created."""
        provider, target = provider_for(endpoint, model)
        return CallSpec(
            provider=provider.name,
            endpoint=provider.calls_endpoint(target),
            model=model,
            voice=voice,
            session=dict(session or {}),
        )

    async def mint_token(
        self, tenant: str, spec: CallSpec, webrtc_url: str, ttl: int | None = None
    ) -> MintedSession:
        """A call token in place of a provider secret; no provider call. It lives `ttl`
        seconds when asked for, never longer than the configured secret lifetime."""
        token = mint_token(tenant)
        lifetime = self.config.secret_ttl if ttl is None else min(ttl, self.config.secret_ttl)
        expires_ms = await self.store.put_grant(token, tenant, spec, lifetime)
        expires_at = datetime.fromtimestamp(expires_ms / 1000, UTC)
        return MintedSession(
            id="sess_" + secrets.token_hex(12),
            model=spec.model,
            voice=spec.voice,
            expires_at=expires_at,
            client_secret=token,
            client_secret_expires_at=expires_at,
            webrtc_url=webrtc_url,
        )

    # -- making a call ----------------------------------------------------------------------

    async def admit(
        self,
        tenant: str,
        transport: Transport,
        *,
        spec: CallSpec | None = None,
        token: str | None = None,
        provider_call_id: str = "",
        attach_window_ms: int | None = None,
    ) -> Admission:
        """`attach_window_ms`: how long the admission may wait to go live (a forwarded phone
        call: its answer time), instead of the provider's answer time."""
        request = AdmitRequest(
            tenant=tenant,
            call_id=new_call_id(),
            transport=transport,
            policy=self.policies.for_tenant(tenant),
            attach_window_ms=attach_window_ms or self.config.attach_window_ms,
            spec=spec,
            token=token,
            provider_call_id=provider_call_id,
        )
        try:
            await self.fleet.touch(tenant)
            return Admission(await _twice(self.store.admit, request), self.store)
        except StoreUnavailable:
            # A token is redeemable only where it was minted for every replica: the shared store.
            if token is not None or self.local is self.store:
                raise
            mode = self.config.failure_mode
            log.warning(
                "calls: the shared store failed at admission; failure mode %r",
                mode,
                extra={"tenant": tenant},
            )
            if mode == "deny":
                raise LimiterUnavailable("call limits unavailable") from None
        # The shared admission may have run before its reply was lost: if so it never goes
        # live, and a reaper releases it after the attach window, uncounted.
        await self.local_fleet.touch(tenant)
        local = replace(request, enforce=self.config.failure_mode == "local")
        return Admission(await self.local.admit(local), self.local)

    async def abandon(self, admission: Admission) -> None:
        """The admission will not become a call: give the slot (and the token) back."""
        record = admission.record
        try:
            await admission.store.release(record.tenant, record.call_id)
        except StoreUnavailable:  # stale after the attach window: a reaper releases it then
            log.warning("calls: could not release an admission", extra={"call_id": record.call_id})

    async def connect_webrtc(self, admission: Admission, sdp: str) -> tuple[CallRecord, str]:
        """Create the call at the provider with the caller's offer and record it live; the
        record and the answer SDP. On any failure the admission is undone first."""
        record = admission.record
        provider = provider_named(record.spec.provider)
        policy = self.policies.for_tenant(record.tenant)
        try:
            created = await provider.create_call(self.control, record.spec, policy, sdp)
        except MalformedCall as error:
            if error.provider_call_id:
                await self._hang_up_quietly(provider, record, error.provider_call_id)
            await self.abandon(admission)
            raise
        except BaseException:
            await self.abandon(admission)
            raise
        live = await self.go_live(admission, created.provider_call_id)
        return live, created.answer_sdp

    async def go_live(
        self, admission: Admission, provider_call_id: str, *, spec: CallSpec | None = None
    ) -> CallRecord:
        """The provider's call exists: record it live, or hang it up and refuse. `spec`: what
        the call became when answered (a forwarded phone call's session), if not the admitted."""
        record = admission.record if spec is None else replace(admission.record, spec=spec)
        try:
            attached = await _twice(
                admission.store.attach,
                record.tenant,
                record.call_id,
                provider_call_id,
                self.holder(),
                spec,
            )
        except StoreUnavailable:
            attached = False
        if not attached:
            await self._hang_up_quietly(
                provider_named(record.spec.provider), record, provider_call_id
            )
            await self.abandon(admission)
            raise StoreUnavailable("the call could not be recorded; it was hung up; try again")
        live = record.with_state(
            state="live", provider_call_id=provider_call_id, holder=self.holder()
        )
        if self.after_live is not None and admission.store is self.store:
            await self.after_live(record.tenant)  # a failover now must not lose the call
        for hold in self.on_live:
            await hold(live)
        return live

    async def _hang_up_quietly(
        self, provider: Provider, record: CallRecord, provider_call_id: str
    ) -> None:
        with contextlib.suppress(ProviderError):
            await provider.hang_up(
                self.control, record.with_state(provider_call_id=provider_call_id)
            )

    async def give_up(self, record: CallRecord) -> None:
        """An admission whose provider call exists but never went live: a phone call still
        ringing is rejected (the phone module's `unanswered`), anything else hung up."""
        if record.transport == "sip" and self.unanswered is not None:
            await self.unanswered(record)
        else:
            await self.hang_up(record, "gateway_hangup")

    # -- ending a call ----------------------------------------------------------------------

    async def hang_up(self, record: CallRecord, reason: EndedReason) -> bool:
        """Ask whoever carries the call to end it: the provider (WebRTC and phone calls), or
        the process relaying a WebSocket session. False when no one here could."""
        if record.transport == "websocket":
            return self.close_session is not None and await self.close_session(record, reason)
        await provider_named(record.spec.provider).hang_up(self.control, record)
        return True

    async def end(self, record: CallRecord, reason: EndedReason) -> CallRecord:
        """Hang up, then record the end (the first end wins; an ended call is answered as it
        stands). The end is reported once, by whoever counted it."""
        store = await self.store_of(record)
        if record.state == "live":
            await store.mark_ending(record.tenant, record.call_id, reason, self.config.claim_ms)
            await self.hang_up(record, reason)
            await self.count_end(store, record, reason)
        return await store.get(record.tenant, record.call_id) or record

    async def count_end(
        self,
        store: CallStore,
        record: CallRecord,
        reason: EndedReason,
        *,
        final_audio_ms: int | None = None,
        until_ms: int | None = None,
    ) -> CallEnd | None:
        op = secrets.token_hex(8)
        end = await _twice(
            store.end,
            record.tenant,
            record.call_id,
            reason,
            op,
            final_audio_ms=final_audio_ms,
            until_ms=until_ms,
        )
        if end is not None:
            for hook in self.on_end:
                try:
                    await hook(end)
                except Exception as error:  # the end is counted; a report must not undo it
                    log.error("call end report failed", extra={"error": type(error).__name__})
        return end

    # -- reading ----------------------------------------------------------------------------

    async def store_of(self, record: CallRecord) -> CallStore:
        if self.local is not self.store and await self.local.get(record.tenant, record.call_id):
            return self.local
        return self.store

    async def find(self, tenant: str, call_id: str) -> CallRecord:
        record = await self.local.get(tenant, call_id) if self.local is not self.store else None
        record = record or await self.store.get(tenant, call_id)
        if record is None or record.state == "admitted" and record.transport != "sip":
            raise NotFound("no such call")
        return record

    async def find_for_token(self, token: str, call_id: str) -> CallRecord:
        """The call the token created; 404 for any other (never 403)."""
        tenant = token_tenant(token)
        record = await self.store.get(tenant, call_id) if tenant else None
        if record is None or not secrets.compare_digest(record.token_digest, token_digest(token)):
            raise NotFound("no such call")
        return record

    async def live(self, tenant: str) -> list[CallRecord]:
        calls = await self.store.live_calls(tenant)
        if self.local is not self.store:
            calls += await self.local.live_calls(tenant)
        return calls

    async def budget_left_ms(self, tenant: str) -> int | None:
        budget = self.policies.for_tenant(tenant).daily_audio_seconds
        if budget is None:
            return None
        return max(0, budget * 1000 - await self.store.spent_today_ms(tenant))


P = ParamSpec("P")
T = TypeVar("T")


async def _twice(operation: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an idempotent store operation, once more if the store failed: a reply lost after
    the script ran gets the first run's answer on the second."""
    try:
        return await operation(*args, **kwargs)
    except StoreUnavailable:
        return await operation(*args, **kwargs)
