"""The composition root: every service the gateway runs, built once from the settings.

`check_serving(settings)` refuses a configuration that cannot serve (before anything starts);
`build_services(settings, ...)` makes the call store and fleet (Redis or in process), the call
service, the reaper, the sideband watcher and the HTTP clients; `Services.start()` starts the
background loops and `aclose()` stops them and closes what they hold. Nothing else constructs
these; tests pass seams (a provider transport, a limiter) in here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from redis.asyncio import Redis

from realtime_gateway.gateway.allowlist import normalise_url
from realtime_gateway.gateway.auth import Authenticator
from realtime_gateway.gateway.calls.memory_store import MemoryCallStore, MemoryFleet
from realtime_gateway.gateway.calls.redis_fleet import RedisFleet
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.service import CallMode, Calls, CallsConfig
from realtime_gateway.gateway.calls.store import CallStore, Fleet
from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.leash.replica_lock import ReplicaLock
from realtime_gateway.gateway.leash.report import LeashMetrics
from realtime_gateway.gateway.leash.sideband import AiohttpSidebands
from realtime_gateway.gateway.leash.watcher import SidebandWatcher
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.phone.numbers import shared_numbers
from realtime_gateway.gateway.phone.service import Phone, PhoneConfig, PhoneMetrics
from realtime_gateway.gateway.phone.webhook import WebhookGate
from realtime_gateway.gateway.policy import policies_from
from realtime_gateway.gateway.providers.call_http import AiohttpCallTransport, CallTransport
from realtime_gateway.gateway.providers.protocol import CallControl
from realtime_gateway.gateway.ratelimit import Limiter, build_limiter
from realtime_gateway.gateway.redisconn import (
    RedisSettingsError,
    redis_from_settings,
    redis_topology,
)
from realtime_gateway.gateway.relay.relay import RelayLimits
from realtime_gateway.gateway.relay.sessions import RelaySessions
from realtime_gateway.gateway.relay.upstream import Upstreams
from realtime_gateway.gateway.replica_wait import ReplicaWait
from realtime_gateway.gateway.settings import ConfigError, Settings
from realtime_gateway.gateway.tenants.directory import TenantDirectory
from realtime_gateway.gateway.tenants.redis_registry import RedisRegistry
from realtime_gateway.gateway.tenants.registry import MemoryRegistry, Snapshot, TenantRegistry
from realtime_gateway.gateway.usage_hooks.delivery import UsageWebhooks
from realtime_gateway.gateway.usage_hooks.outbox import MemoryOutbox, Outbox
from realtime_gateway.gateway.usage_hooks.redis_outbox import RedisOutbox
from realtime_gateway.webhook_signing import WebhookSecret, WebhookSecretError

# An admission that is not live by then is stale: the provider's answer took longer than its
# timeout allows, or the process that admitted it died. A reaper releases it.
ATTACH_MARGIN_SECONDS = 10


def check_scale_out(settings: Settings) -> None:
    """Refuse a mixture of Redis topologies, and several workers without shared state."""
    try:
        redis_topology(settings)
    except RedisSettingsError as error:
        raise ConfigError(str(error)) from error
    settings.validate_workers()


def check_serving(settings: Settings) -> None:
    """Refuse, in one line, a configuration that is unsafe or cannot serve."""
    check_scale_out(settings)
    settings.validate_for_serving()
    check_phone(settings)


def check_phone(settings: Settings) -> None:
    """A webhook secret that is not `whsec_` + base64, or a number two tenants claim."""
    webhook_secret(settings)
    policies = policies_from(settings)
    shared = shared_numbers(policies)
    if shared:
        raise ConfigError(f"phone number {shared[0]} is in more than one tenant's phone_numbers")
    for tenant, policy in sorted(policies.tenants.items()):
        if policy.phone_answer != "forward":
            continue
        parts = urlsplit(policy.phone_webhook_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"tenant {tenant!r} forwards its phone calls: its phone_webhook_url must be an "
                "absolute http(s) URL"
            )
        try:
            WebhookSecret(policy.phone_webhook_secret or "")
        except WebhookSecretError as error:
            raise ConfigError(f"tenant {tenant!r}: phone_webhook_secret: {error.reason}") from None


def webhook_secret(settings: Settings) -> WebhookSecret | None:
    if settings.openai_webhook_secret is None:
        return None
    try:
        return WebhookSecret(settings.openai_webhook_secret.get_secret_value())
    except WebhookSecretError as error:
        raise ConfigError(f"GATEWAY_OPENAI_WEBHOOK_SECRET: {error.reason}") from None


def calls_config(settings: Settings) -> CallsConfig:
    timeout = settings.provider_timeout
    return CallsConfig(
        default_mode=settings.call_mode,
        tenant_modes=settings.tenant_modes(),
        secret_ttl=settings.secret_ttl,
        failure_mode=settings.limiter_failure_mode,
        attach_window_ms=int((timeout + ATTACH_MARGIN_SECONDS) * 1000),
        # Longer than a hang-up can take, so no second reaper hangs up while the first waits.
        claim_ms=int(math.ceil(2 * timeout + 5) * 1000),
    )


@dataclass
class Services:
    calls: Calls
    reaper: Reaper
    watcher: SidebandWatcher
    leash_metrics: LeashMetrics
    relays: RelaySessions
    phone: Phone
    webhooks: WebhookGate | None  # None: no GATEWAY_OPENAI_WEBHOOK_SECRET, no phone webhook
    directory: TenantDirectory
    usage_webhooks: UsageWebhooks | None  # None: no GATEWAY_USAGE_WEBHOOK_URL
    _closers: list[object] = field(default_factory=list)

    async def load_tenants(self) -> None:
        """Read the tenant registry once, before the first request."""
        try:
            await self.directory.refresh()
        except CallsUnavailable:  # Redis down at start: the directory's loop reads it later
            pass

    def start(self) -> None:
        self.directory.start()
        if self.usage_webhooks is not None:
            self.usage_webhooks.start()
        self.reaper.start()
        self.watcher.start()

    async def aclose(self) -> None:
        await self.directory.aclose()
        if self.usage_webhooks is not None:
            await self.usage_webhooks.aclose()
        await self.watcher.aclose()
        await self.reaper.aclose()
        for closer in self._closers:
            await closer.aclose()  # type: ignore[attr-defined]


def build_stores(settings: Settings) -> tuple[CallStore, Fleet, ReplicaWait | None]:
    if not settings.redis_configured():
        store = MemoryCallStore()
        return store, MemoryFleet(store), None
    client = redis_from_settings(settings)
    redis_store = RedisCallStore(client, owns_client=True)
    replicas = settings.replicas_to_wait_for()
    wait = (
        ReplicaWait(client, replicas, settings.redis_wait_ms)
        if replicas > 0 and isinstance(client, Redis)
        else None
    )
    return redis_store, RedisFleet(redis_store), wait


def build_directory(
    settings: Settings, calls: Calls, authenticator: Authenticator | None
) -> TenantDirectory:
    """The runtime tenant registry (Redis, or this process), applied on every change to the
    authenticator's keys and to the policies the call service resolves."""
    registry: TenantRegistry = (
        RedisRegistry(redis_from_settings(settings), owns_client=True)
        if settings.redis_configured()
        else MemoryRegistry()
    )
    configured = set(policies_from(settings).tenants)
    if authenticator is not None:
        configured |= authenticator.key_tenants
    directory = TenantDirectory(registry, frozenset(configured))

    def apply(snapshot: Snapshot) -> None:
        runtime = {n: e for n, e in snapshot.tenants.items() if n not in directory.config_tenants}
        if authenticator is not None:
            authenticator.use_runtime(
                [(k.tenant, k.sha256) for k in snapshot.keys.values() if k.tenant in runtime],
                frozenset(name for name, entry in runtime.items() if entry.disabled),
            )
        calls.policies = policies_from(settings, {n: e.overrides() for n, e in runtime.items()})

    directory.listeners.append(apply)
    return directory


def build_services(
    settings: Settings,
    metrics: GatewayMetrics,
    *,
    call_transport: CallTransport | None = None,
    limiter: Limiter | None = None,
    authenticator: Authenticator | None = None,
) -> Services:
    """`limiter` is the app's (phone calls count against the tenant's rate); none: one of
    its own, closed with the services. `authenticator`: the app's, to which the registry's
    keys are given (none: policies only)."""
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    http = call_transport or AiohttpCallTransport()
    store, fleet, wait = build_stores(settings)
    if store.backend == "memory":
        local, local_fleet = store, fleet
    else:
        local = MemoryCallStore()
        local_fleet = MemoryFleet(local)
    holder = _HolderName()
    calls = Calls(
        calls_config(settings),
        store=store,
        fleet=fleet,
        local=local,
        local_fleet=local_fleet,
        policies=policies_from(settings),
        control=CallControl(http, api_key, settings.provider_timeout),
        holder=holder,
    )
    sidebands = AiohttpSidebands(api_key, connect_timeout=settings.provider_timeout)
    watcher = SidebandWatcher(calls, sidebands.open)
    holder.watcher = watcher
    calls.on_live.append(watcher.hold)
    if wait is not None:
        calls.after_live = wait
    leash_metrics = LeashMetrics(metrics)
    calls.on_end.append(leash_metrics.report)
    reaper = Reaper(calls, lock=ReplicaLock.from_environment())
    relays = RelaySessions(
        Upstreams(api_key, settings.provider_timeout, settings.ws_max_sessions),
        RelayLimits(
            max_frame_bytes=settings.ws_max_frame_bytes,
            stall_seconds=settings.ws_stall_seconds,
        ),
        max_sockets=settings.ws_max_sessions,
    )
    calls.close_session = relays.close
    closers: list[object] = [sidebands, relays, store]
    if limiter is None:
        limiter = build_limiter(settings)
        closers.append(limiter)
    phone = build_phone(settings, calls, limiter, metrics)
    secret = webhook_secret(settings)
    webhooks = WebhookGate(secret, store) if secret is not None else None
    if local is not store:
        closers.append(local)
    if call_transport is None:
        closers.append(http)
    directory = build_directory(settings, calls, authenticator)
    usage_webhooks = build_webhooks(settings)
    if usage_webhooks is not None:
        calls.on_end.append(usage_webhooks.on_end)
    return Services(
        calls,
        reaper,
        watcher,
        leash_metrics,
        relays,
        phone,
        webhooks,
        directory,
        usage_webhooks,
        closers,
    )


def build_phone(
    settings: Settings, calls: Calls, limiter: Limiter, metrics: GatewayMetrics
) -> Phone:
    config = PhoneConfig(
        endpoint=normalise_url(settings.provider_endpoint),
        model=settings.phone_model,
        voice=settings.phone_voice,
        live_model=settings.phone_live_model,
        allowed_models=frozenset(settings.allowed_models),
        allowed_voices=frozenset(settings.allowed_voices),
        forward_timeout=settings.provider_timeout,
    )
    phone = Phone(calls, limiter, PhoneMetrics(metrics), config)
    calls.unanswered = phone.unanswered
    return phone


def build_webhooks(settings: Settings) -> UsageWebhooks | None:
    """The usage webhooks' outbox (Redis, or this process) and delivery loop, when configured."""
    if settings.usage_webhook_url is None or settings.usage_webhook_secret is None:
        return None
    try:
        secret = WebhookSecret(settings.usage_webhook_secret.get_secret_value())
    except WebhookSecretError as error:
        raise ConfigError(f"GATEWAY_USAGE_WEBHOOK_SECRET: {error.reason}") from None
    outbox: Outbox = (
        RedisOutbox(redis_from_settings(settings), owns_client=True)
        if settings.redis_configured()
        else MemoryOutbox()
    )
    return UsageWebhooks(outbox, settings.usage_webhook_url, secret)


class _HolderName:
    """This process's name in the fleet: the watcher's, which changes if it is presumed dead."""

    watcher: SidebandWatcher | None = None

    def __call__(self) -> str:
        return self.watcher.holder if self.watcher is not None else ""


__all__ = ["CallMode", "Services", "build_services", "check_serving"]
