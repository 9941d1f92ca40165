"""The leash joined to brokered calls: a due call is hung up through the broker's provider
adapter, and every end the leash counts is written into the broker's call record."""

from __future__ import annotations

import time
from collections.abc import Callable

from realtime_gateway.gateway.calls.broker import Broker
from realtime_gateway.gateway.calls.wire import CallPolicy
from realtime_gateway.gateway.leash.policy import Policies
from realtime_gateway.gateway.leash.reaper import HangUp
from realtime_gateway.gateway.leash.service import OnEnd
from realtime_gateway.gateway.leash.types import CallEnd, DueCall


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


def hang_up_through(broker: Broker) -> HangUp:
    async def hang_up(due: DueCall) -> None:
        record = await broker.state.calls.get(due.tenant, due.call_id)
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
