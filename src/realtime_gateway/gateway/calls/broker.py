"""Brokered mode in one object: which calls are brokered, minting call tokens, creating calls
at the provider with a redeemed token, and the access rules for reading and ending them."""

from __future__ import annotations

import contextlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, cast
from urllib.parse import urlsplit

from realtime_gateway.gateway.auth import Authenticator, bearer_token
from realtime_gateway.gateway.body import SessionRequest
from realtime_gateway.gateway.calls.records import CallGrant, CallRecord, new_call_id
from realtime_gateway.gateway.calls.store import CallState
from realtime_gateway.gateway.calls.tokens import mint_token, token_digest, token_tenant
from realtime_gateway.gateway.calls.upstream import CallUpstream
from realtime_gateway.gateway.calls.wire import CallPolicy
from realtime_gateway.gateway.errors import CallsUnavailable, NotFound, ProviderError, Unauthorized
from realtime_gateway.gateway.leash.service import Leash
from realtime_gateway.gateway.leash.types import EndedReason
from realtime_gateway.gateway.providers import MintedSession
from realtime_gateway.gateway.providers.live import is_live
from realtime_gateway.gateway.settings import Settings

CallMode = Literal["direct", "brokered"]
CALLS_PATH = "/realtime_calls"
# Until the leash sets per-tenant limits, a call's deadline is this far after its start.
DEFAULT_MAX_CALL_SECONDS = 900.0


def no_policy(tenant: str) -> CallPolicy:
    return CallPolicy()


class Broker:
    def __init__(
        self,
        settings: Settings,
        state: CallState,
        upstream: CallUpstream,
        *,
        policy_for: Callable[[str], CallPolicy] = no_policy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`policy_for(tenant)` pins instructions and Live data-channel permissions; `leash`
        (set after construction: its reaper hangs up through this broker) admits and ends calls."""
        self.leash: Leash | None = None
        self.state = state
        self.upstream = upstream
        self.policy_for = policy_for
        self._clock = clock
        self._default_mode: CallMode = settings.call_mode
        self._tenant_modes = settings.tenant_modes()
        self._secret_ttl = settings.secret_ttl
        self._public_url = settings.public_url

    def mode_for(self, tenant: str, model: str, endpoint: str) -> CallMode:
        if is_live(model, endpoint):
            return "brokered"
        mode = self._tenant_modes.get(tenant, self._default_mode)
        return "brokered" if mode == "brokered" else "direct"

    def call_location(self, call_id: str) -> str:
        """`Location` of a created call, under `GATEWAY_PUBLIC_URL`'s path prefix if it has one."""
        prefix = urlsplit(self._public_url).path.rstrip("/") if self._public_url else ""
        return f"{prefix}{CALLS_PATH}/{call_id}"

    def webrtc_url(self, request_base_url: str) -> str:
        """`<GATEWAY_PUBLIC_URL>/realtime_calls`; unset, the address the caller reached us at."""
        return (self._public_url or request_base_url.rstrip("/")) + CALLS_PATH

    async def mint(
        self, tenant: str, request: SessionRequest, request_base_url: str
    ) -> MintedSession:
        """A call token in place of a provider secret; no provider call."""
        now = self._clock()
        expires = now + self._secret_ttl
        token = mint_token(tenant)
        await self.state.tokens.put(
            token, CallGrant(tenant, request.model, request.voice, request.endpoint, expires)
        )
        expires_at = datetime.fromtimestamp(expires, UTC)
        return MintedSession(
            id="sess_" + secrets.token_hex(12),
            model=request.model,
            voice=request.voice,
            expires_at=expires_at,
            client_secret=token,
            client_secret_expires_at=expires_at,
            webrtc_url=self.webrtc_url(request_base_url),
        )

    async def create_call(self, token: str, sdp: str) -> tuple[CallRecord, str]:
        """Redeem the token (once, across replicas), create the call upstream, remember it.
        Returns the record and the provider's answer SDP."""
        grant = await self.state.tokens.redeem(token)
        if grant is None:
            raise Unauthorized("unknown, expired or already used call token")
        call_id = new_call_id()
        now = self._clock()
        deadline = now + DEFAULT_MAX_CALL_SECONDS
        if self.leash is not None:  # the leash's slot and deadline (429 when refused)
            admission = await self.leash.admit(grant.tenant, call_id)
            now, deadline = admission.started_at, admission.deadline
        try:
            created = await self.upstream.create(grant, sdp, self.policy_for(grant.tenant))
        except BaseException:
            if self.leash is not None:
                with contextlib.suppress(Exception):  # the grace frees the slot otherwise
                    await self.leash.release(grant.tenant, call_id)
            raise
        record = CallRecord(
            call_id=call_id,
            tenant=grant.tenant,
            provider_call_id=created.provider_call_id,
            wire=created.target.wire,
            upstream_endpoint=created.target.create_url,
            model=grant.model,
            voice=grant.voice,
            started_at=now,
            deadline=deadline,
            token_digest=token_digest(token),
        )
        try:
            await self.state.calls.create(record)
        except CallsUnavailable:
            # Unrecorded, the call would run unseen: end it at the provider before refusing.
            with contextlib.suppress(ProviderError):
                await self.upstream.hang_up(record)
            if self.leash is not None:
                with contextlib.suppress(Exception):
                    await self.leash.release(grant.tenant, call_id)
            raise
        if self.leash is not None:
            await self.leash.attach(
                grant.tenant, call_id, created.target.wire, created.provider_call_id
            )
        if self.state.wait_replicas is not None:  # a failover now must not lose the call
            await self.state.wait_replicas(grant.tenant)
        return record, created.answer_sdp

    async def end_call(self, record: CallRecord, reason: str) -> CallRecord:
        """Hang up at the provider, then record the end (the first end wins; a call already
        ended is answered as it stands)."""
        if record.status == "live":
            if self.leash is not None:
                await self.leash.mark_ending(
                    record.tenant, record.call_id, cast(EndedReason, reason)
                )
            await self.upstream.hang_up(record)
            if self.leash is not None:  # counts the end once; the call record follows it
                await self.leash.end(record.tenant, record.call_id, cast(EndedReason, reason))
            ended = await self.state.calls.end(record.tenant, record.call_id, reason, self._clock())
            if ended is not None:
                return ended
        latest = await self.state.calls.get(record.tenant, record.call_id)
        return latest or record

    async def call_for(
        self, authorization: str | None, call_id: str, authenticator: Authenticator
    ) -> CallRecord:
        """The call, if the credential is its tenant's or the call token that created it;
        else 404 (never 403: whether another tenant's call exists is not the caller's to know)."""
        token = bearer_token(authorization)
        tenant = token_tenant(token)
        if tenant is None:
            tenant = authenticator.authenticate(authorization).name
            record = await self.state.calls.get(tenant, call_id)
        else:
            record = await self.state.calls.get(tenant, call_id)
            presented = token_digest(token)
            if record is not None and not hmac.compare_digest(record.token_digest, presented):
                record = None
        if record is None:
            raise NotFound("no such call")
        return record
