"""What becomes of an incoming phone call, and of a forwarded one the tenant answers.

    on_event(event)      `realtime.call.incoming` (or `live.transport.incoming`), verified:
                         the tenant by the `To` number (603 for none), once per provider
                         call, under the tenant's rate limit, cap and budget (486 when
                         refused); then accepted with the tenant's pinned session (`policy`)
                         or forwarded to the tenant's webhook (`forward`)
    accept / reject      the tenant's answer to a forwarded call, within `phone_answer_seconds`
    unanswered(record)   the reaper found a phone admission past its window: reject it

A forwarded call is admitted with `phone_answer_seconds` as its attach window, so the deadline
is in the store and any replica's reaper rejects it when nobody answered. Every outcome is one
audit line (`event: phone.call`) and a count in `gateway_phone_calls_total{tenant,outcome}`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client import Counter

from realtime_gateway.gateway.calls.record import CallRecord, CallSpec
from realtime_gateway.gateway.calls.service import Admission, Calls
from realtime_gateway.gateway.calls.store import KEEP_ENDED_MS
from realtime_gateway.gateway.errors import (
    CallsUnavailable,
    GatewayError,
    InvalidRequest,
    LimiterUnavailable,
    NotFound,
    ProviderError,
    QuotaExceeded,
    TooManyCalls,
)
from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.phone import answer
from realtime_gateway.gateway.phone.forward import forward, forwarded_event
from realtime_gateway.gateway.phone.numbers import header_value, number_of, tenant_for_number
from realtime_gateway.gateway.providers.realtime import is_plain_id
from realtime_gateway.gateway.ratelimit import Limiter
from realtime_gateway.wire import ga_session_voice

log = logging.getLogger("realtime_gateway.gateway.phone")
audit_log = logging.getLogger(AUDIT_LOGGER)

INCOMING = "realtime.call.incoming"
LIVE_INCOMING = "live.transport.incoming"
# A provider call is acted on once, however often (and through whichever replica) its event
# arrives; remembered as long as an ended call stays readable.
ONCE_MS = KEEP_ENDED_MS
MAX_PHONE_META_CHARS = 64


@dataclass(frozen=True)
class PhoneConfig:
    endpoint: str  # the provider endpoint (normalised) phone calls are answered through
    model: str  # a policy-answered call's model and voice
    voice: str
    live_model: str  # a `live.transport.incoming` call's model
    allowed_models: frozenset[str]
    allowed_voices: frozenset[str]
    forward_timeout: float  # seconds the tenant's webhook may take to answer the delivery


class PhoneMetrics:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        self.calls = Counter(
            "gateway_phone_calls",
            "Incoming phone calls by tenant and outcome (accepted, forwarded, answered, "
            "rejected, unanswered, busy_*, unknown_number, duplicate, failed_*, webhook_refused)",
            ["tenant", "outcome"],
            registry=metrics.registry,
        )

    def record(
        self, tenant: str | None, outcome: str, *, call_id: str = "", sip_status: int | None = None
    ) -> None:
        label = self._metrics.tenant_label(tenant) if tenant else "none"
        self.calls.labels(label, outcome).inc()
        audit_log.info(
            "phone call",
            extra={
                "event": "phone.call",
                "tenant": tenant,
                "call_id": call_id or None,
                "outcome": outcome,
                "sip_status": sip_status,
            },
        )


class Phone:
    def __init__(
        self, calls: Calls, limiter: Limiter, metrics: PhoneMetrics, config: PhoneConfig
    ) -> None:
        self.calls = calls
        self.limiter = limiter
        self.metrics = metrics
        self.config = config

    def _spec(self, live: bool, meta: dict[str, str]) -> CallSpec:
        model = self.config.live_model if live else self.config.model
        spec = self.calls.spec_for(self.config.endpoint, model, self.config.voice)
        return replace(spec, meta=meta)

    # -- OpenAI's webhook -------------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> str:
        """Act on a verified event; the outcome (also for events that are not ours to act on)."""
        if event.get("type") not in (INCOMING, LIVE_INCOMING):
            return "ignored"
        live = event.get("type") == LIVE_INCOMING
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        if live and data.get("type", "sip") != "sip":
            return "ignored"
        provider_call_id = data.get("session_id" if live else "call_id")
        if not isinstance(provider_call_id, str) or not is_plain_id(provider_call_id):
            log.warning("phone: an incoming call event without a usable call id")
            return "ignored"
        headers = data.get("sip_headers")
        headers = headers if isinstance(headers, list) else []
        to = number_of(header_value(headers, "To"))
        caller = number_of(header_value(headers, "From")) or ""
        tenant = tenant_for_number(self.calls.policies, to)
        meta = {"to": to or "", "from": caller[:MAX_PHONE_META_CHARS]}
        spec = self._spec(live, meta)
        if tenant is None:
            await self._reject_quietly(spec, provider_call_id, answer.DECLINE)
            self.metrics.record(None, "unknown_number", sip_status=answer.DECLINE)
            return "unknown_number"
        if not await self.calls.store.remember(tenant, "phone:" + provider_call_id, ONCE_MS):
            self.metrics.record(tenant, "duplicate")
            return "duplicate"
        return await self._admit(tenant, spec, provider_call_id, event)

    async def _admit(
        self, tenant: str, spec: CallSpec, provider_call_id: str, event: dict[str, Any]
    ) -> str:
        policy = self.calls.policies.for_tenant(tenant)
        forwarded = policy.phone_answer == "forward"
        try:
            decision = await self.limiter.hit(tenant)
            if not decision.allowed:
                return await self._refuse(tenant, spec, provider_call_id, "busy_rate_limited")
            admission = await self.calls.admit(
                tenant,
                "sip",
                spec=spec,
                provider_call_id=provider_call_id,
                attach_window_ms=policy.phone_answer_seconds * 1000 if forwarded else None,
            )
        except TooManyCalls:
            return await self._refuse(tenant, spec, provider_call_id, "busy_too_many_calls")
        except QuotaExceeded:
            return await self._refuse(tenant, spec, provider_call_id, "busy_quota_exceeded")
        except (LimiterUnavailable, CallsUnavailable):
            return await self._refuse(
                tenant, spec, provider_call_id, "failed_unavailable", answer.UNAVAILABLE
            )
        call_id = admission.record.call_id
        if forwarded:
            return await self._forward(admission, event)
        try:
            await answer.accept(self.calls.control, spec, policy, provider_call_id)
        except ProviderError:
            await self.calls.abandon(admission)
            await self._reject_quietly(spec, provider_call_id, answer.UNAVAILABLE)
            self.metrics.record(tenant, "failed_provider", call_id=call_id)
            return "failed_provider"
        try:
            await self.calls.go_live(admission, provider_call_id)
        except CallsUnavailable:  # go_live hung the call up and gave the slot back
            self.metrics.record(tenant, "failed_unavailable", call_id=call_id)
            return "failed_unavailable"
        self.metrics.record(tenant, "accepted", call_id=call_id)
        return "accepted"

    async def _forward(self, admission: Admission, event: dict[str, Any]) -> str:
        record = admission.record
        policy = self.calls.policies.for_tenant(record.tenant)
        now_ms = await admission.store.now_ms()
        delivered = await forward(
            self.calls.control.http,
            policy.phone_webhook_url,
            policy.phone_webhook_secret,
            forwarded_event(event, record.call_id),
            now_s=now_ms // 1000,
            timeout=min(self.config.forward_timeout, float(policy.phone_answer_seconds)),
        )
        if not delivered:
            current = await admission.store.get(record.tenant, record.call_id)
            if current is not None and current.state == "admitted":  # not answered meanwhile
                await self.calls.abandon(admission)
                await self._reject_quietly(record.spec, record.provider_call_id, answer.UNAVAILABLE)
                self.metrics.record(record.tenant, "failed_forward", call_id=record.call_id)
                return "failed_forward"
        self.metrics.record(record.tenant, "forwarded", call_id=record.call_id)
        return "forwarded"

    async def _refuse(
        self,
        tenant: str,
        spec: CallSpec,
        provider_call_id: str,
        outcome: str,
        status: int = answer.BUSY,
    ) -> str:
        await self._reject_quietly(spec, provider_call_id, status)
        self.metrics.record(tenant, outcome, sip_status=status)
        return outcome

    async def _reject_quietly(self, spec: CallSpec, provider_call_id: str, status: int) -> None:
        try:
            await answer.reject(self.calls.control, spec, provider_call_id, status)
        except ProviderError as error:  # it stops ringing at the provider's own timeout
            log.warning("phone: reject failed", extra={"status": status, "error": str(error)})

    # -- the tenant's answer to a forwarded call --------------------------------------------

    async def _ringing(self, tenant: str, call_id: str, live: bool) -> Admission:
        """The tenant's forwarded call that still waits for its answer; 404 for a call that is
        not the tenant's (or not of this API: Realtime or Live), 400 for one that is not
        ringing, past its answer time, or answered by the gateway's policy."""
        record = await self.calls.find(tenant, call_id)
        if record.transport == "sip" and answer.is_live(record.spec) != live:
            raise NotFound("no such call")
        store = await self.calls.store_of(record)
        if record.transport != "sip" or record.state != "admitted":
            raise InvalidRequest(f"call {call_id} is not ringing")
        policy = self.calls.policies.for_tenant(tenant)
        if policy.phone_answer != "forward":
            raise InvalidRequest(f"call {call_id} is answered by the tenant's policy")
        if await store.now_ms() >= record.started_ms + policy.phone_answer_seconds * 1000:
            raise InvalidRequest(f"call {call_id} is not ringing (its answer time passed)")
        return Admission(record, store)

    async def _claim(self, admission: Admission) -> None:
        """This request answers the call; any other answer after it is refused (400)."""
        record = admission.record
        if not await admission.store.remember(record.tenant, "answer:" + record.call_id, ONCE_MS):
            raise InvalidRequest(f"call {record.call_id} was already answered")

    def session_spec(self, record: CallRecord, session: dict[str, Any]) -> CallSpec:
        """The tenant's accept body as the call's spec: its model and voice if allowed, its
        other fields kept (the policy's pins go over them when the session is built)."""
        kind = "live" if answer.is_live(record.spec) else "realtime"
        if session.get("type", kind) != kind:
            raise InvalidRequest(f"the session type must be {kind}")
        model = session.get("model") or record.spec.model
        voice = ga_session_voice(session) or record.spec.voice
        if not isinstance(model, str) or (
            self.config.allowed_models and model not in self.config.allowed_models
        ):
            raise InvalidRequest("model is not allowed")
        if self.config.allowed_voices and voice not in self.config.allowed_voices:
            raise InvalidRequest("voice is not allowed")
        fields = {k: v for k, v in session.items() if k not in ("type", "model")}
        return replace(record.spec, model=model, voice=voice, session=fields)

    async def accept(
        self, tenant: str, call_id: str, session: dict[str, Any], *, live: bool = False
    ) -> CallRecord:
        admission = await self._ringing(tenant, call_id, live)
        record = admission.record
        spec = self.session_spec(record, session)
        await self._claim(admission)
        policy = self.calls.policies.for_tenant(tenant)
        try:
            await answer.accept(self.calls.control, spec, policy, record.provider_call_id)
        except ProviderError:
            await self.calls.abandon(admission)
            await self._reject_quietly(spec, record.provider_call_id, answer.UNAVAILABLE)
            self.metrics.record(tenant, "failed_provider", call_id=call_id)
            raise
        answered = await self.calls.go_live(admission, record.provider_call_id, spec=spec)
        self.metrics.record(tenant, "answered", call_id=call_id)
        return answered

    async def reject(self, tenant: str, call_id: str, status: int, *, live: bool = False) -> None:
        admission = await self._ringing(tenant, call_id, live)
        await self._claim(admission)
        record = admission.record
        try:
            await answer.reject(self.calls.control, record.spec, record.provider_call_id, status)
        finally:
            await self.calls.abandon(admission)
            self.metrics.record(tenant, "rejected", call_id=call_id, sip_status=status)

    # -- the reaper's --------------------------------------------------------------------------

    async def unanswered(self, record: CallRecord) -> None:
        """A phone admission nobody made live in time (a forwarded call not answered, or a
        replica that died while accepting): rejected, or hung up if it was accepted after all."""
        try:
            await answer.reject(
                self.calls.control, record.spec, record.provider_call_id, answer.UNAVAILABLE
            )
        except ProviderError:
            try:
                await self.calls.hang_up(record, "gateway_hangup")
            except GatewayError as error:
                log.warning("phone: could not end an unanswered call", extra={"error": str(error)})
        self.metrics.record(
            record.tenant, "unanswered", call_id=record.call_id, sip_status=answer.UNAVAILABLE
        )
