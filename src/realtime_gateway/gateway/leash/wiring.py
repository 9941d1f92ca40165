"""The leash joined to brokered calls: a due call is hung up through the broker's provider
adapter, every end the leash counts is written into the broker's call record, and the sideband
watcher holds the live calls' provider sidebands."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from realtime_gateway.gateway.calls.broker import Broker
from realtime_gateway.gateway.calls.records import CallRecord
from realtime_gateway.gateway.calls.wire import CallPolicy
from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.leash.lease import Leases, MemoryLeases, RedisLeases
from realtime_gateway.gateway.leash.policy import Policies
from realtime_gateway.gateway.leash.reaper import HangUp
from realtime_gateway.gateway.leash.service import Leash, OnEnd
from realtime_gateway.gateway.leash.sideband import AiohttpSidebands
from realtime_gateway.gateway.leash.types import CallEnd, DueCall
from realtime_gateway.gateway.leash.watcher import DEFAULT_LEASE_SECONDS, SidebandWatcher
from realtime_gateway.gateway.redisconn import SharedRedis, redis_from_settings
from realtime_gateway.gateway.settings import Settings


def call_policy_for(policies: Policies) -> Callable[[str], CallPolicy]:
    """The tenant's pins on the upstream session: instructions, Live data-channel events."""

    def policy_for(tenant: str) -> CallPolicy:
        policy = policies.for_tenant(tenant)
        channel = policy.data_channel
        return CallPolicy(
            instructions=policy.instructions,
            allowed_client_events=channel.allowed_client_events if channel else None,
            allowed_server_events=channel.allowed_server_events if channel else None,
        )

    return policy_for


class HeldRecords:
    """The records of the calls whose sidebands this replica holds (set once the watcher
    runs): with Redis down, the only way to name a call to the provider."""

    def __init__(self) -> None:
        self.watcher: SidebandWatcher | None = None

    def get(self, tenant: str, call_id: str) -> CallRecord | None:
        return self.watcher.record_of(tenant, call_id) if self.watcher else None


def hang_up_through(broker: Broker, held: HeldRecords | None = None) -> HangUp:
    async def hang_up(due: DueCall) -> None:
        try:
            record = await broker.state.calls.get(due.tenant, due.call_id)
        except CallsUnavailable:
            record = held.get(due.tenant, due.call_id) if held else None
            if record is None:
                raise
        if record is not None and record.status == "live":
            await broker.upstream.hang_up(record)

    return hang_up


def record_ends_in(broker: Broker) -> OnEnd:
    async def on_end(end: CallEnd) -> None:
        calls = broker.state.calls
        await calls.end(end.tenant, end.call_id, end.reason, time.time())
        await calls.add_usage(
            end.tenant,
            end.call_id,
            audio_seconds=end.seconds,
            tokens=end.tokens_in + end.tokens_out,
        )

    return on_end


@dataclass
class Watching:
    """This replica's sideband watcher and what it holds open."""

    watcher: SidebandWatcher
    sidebands: AiohttpSidebands
    client: SharedRedis | None

    async def aclose(self) -> None:
        await self.watcher.aclose()
        await self.sidebands.aclose()
        if self.client is not None:
            await self.client.aclose()


def start_watching(
    settings: Settings, leash: Leash, broker: Broker, held: HeldRecords | None = None
) -> Watching:
    """Hold the sideband of every live call this replica holds the lease of."""
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    sidebands = AiohttpSidebands(api_key, connect_timeout=settings.provider_timeout)
    client: SharedRedis | None = None
    leases: Leases
    if not settings.redis_configured():
        leases = MemoryLeases(DEFAULT_LEASE_SECONDS)
    else:
        client = redis_from_settings(settings)
        leases = RedisLeases(client, DEFAULT_LEASE_SECONDS)
    watcher = SidebandWatcher(leash, broker.state.calls, leases, sidebands.open)
    leash.on_attach = watcher.adopt
    if held is not None:
        held.watcher = watcher
    watcher.start()
    return Watching(watcher, sidebands, client)
