"""Everything a request needs, built once per app from the settings, and the `Annotated`
dependencies that hand it to routes (tests override them through FastAPI, never monkeypatch)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from realtime_gateway.gateway.allowlist import AllowList, normalise_url
from realtime_gateway.gateway.auth import Authenticator, Tenant
from realtime_gateway.gateway.body import RequestRules
from realtime_gateway.gateway.calls.service import Calls
from realtime_gateway.gateway.errors import Unauthorized
from realtime_gateway.gateway.leash.report import LeashMetrics
from realtime_gateway.gateway.observability.audit import SessionRecord, record_session
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.phone.service import Phone
from realtime_gateway.gateway.phone.webhook import WebhookGate
from realtime_gateway.gateway.providers.registry import UnknownWire, provider_for
from realtime_gateway.gateway.providers.transport import Transport
from realtime_gateway.gateway.ratelimit import Limiter
from realtime_gateway.gateway.relay.sessions import RelaySessions
from realtime_gateway.gateway.settings import ConfigError, Settings
from realtime_gateway.gateway.tenants.directory import TenantDirectory
from realtime_gateway.gateway.usage_hooks.delivery import UsageWebhooks


@dataclass
class Runtime:
    settings: Settings
    authenticator: Authenticator
    rules: RequestRules
    metrics: GatewayMetrics
    limiter: Limiter
    transport: Transport
    calls: Calls  # making, reading and ending calls on the leash (gateway/calls)
    leash_metrics: LeashMetrics
    relays: RelaySessions  # the WebSocket sessions this process relays (gateway/relay)
    phone: Phone  # phone calls (gateway/phone)
    webhooks: WebhookGate | None  # OpenAI's webhooks; None without a webhook secret
    tenants: TenantDirectory | None = None  # the runtime tenant registry, as last read
    usage_webhooks: UsageWebhooks | None = None  # usage webhooks, when configured


def build_rules(settings: Settings) -> RequestRules:
    """The request rules; refuses endpoints no adapter can speak to, at start-up."""
    entries = [*settings.allowed_endpoints, settings.provider_endpoint]
    for entry in entries:
        try:
            provider_for(normalise_url(entry))
        except (UnknownWire, ValueError) as error:
            raise ConfigError(f"endpoint {entry!r}: {error}") from error
    return RequestRules(
        allow_list=AllowList(entries),
        default_endpoint=normalise_url(settings.provider_endpoint),
        allowed_models=frozenset(settings.allowed_models),
        allowed_voices=frozenset(settings.allowed_voices),
    )


def runtime_of(request: Request) -> Runtime:
    """The app's runtime, for plain (non-FastAPI) routes such as `routes/hot.py`'s."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


# Dependencies are `async def` on purpose: plain `def` ones run in FastAPI's thread pool, two
# thread hand-offs per request for work that never blocks (bench/ measured it).
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def authenticated_tenant(request: Request, runtime: RuntimeDep) -> Tenant:
    """The calling tenant; a refused credential is recorded (audit line, metrics) and raised."""
    started = time.perf_counter()
    try:
        return runtime.authenticator.authenticate(request.headers.get("authorization"))
    except Unauthorized as error:
        record_session(
            runtime.metrics,
            SessionRecord(
                tenant=None,
                model=None,
                voice=None,
                endpoint=None,
                session_id=None,
                outcome=error.error_code,
                status=error.status_code,
                elapsed=time.perf_counter() - started,
            ),
        )
        raise


TenantDep = Annotated[Tenant, Depends(authenticated_tenant)]
