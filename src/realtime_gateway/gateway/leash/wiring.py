"""The leash joined to brokered calls: a due call is hung up through the broker's provider
adapter, and every end the leash counts is written into the broker's call record."""

from __future__ import annotations

import time

from realtime_gateway.gateway.calls.broker import Broker
from realtime_gateway.gateway.leash.reaper import HangUp
from realtime_gateway.gateway.leash.service import OnEnd
from realtime_gateway.gateway.leash.types import CallEnd, DueCall


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
