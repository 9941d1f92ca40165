"""The sideband WebSocket of one call: its server events out, client events in, closed at its end.

Realtime's `/v1/realtime?call_id=rtc_...` and Live's `/v1/live/sessions/{id}/attach` are the same
pipe; the call's dialect decides what the events say. A trusted server holds it with the provider
key; the stub refuses a minted secret, as OpenAI does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.websockets import WebSocket

from realtime_gateway.stub import events
from realtime_gateway.stub.peer import StubCall

NORMAL_CLOSURE = 1000
INTERNAL_ERROR = 1011  # how a dropped sideband (a fault) closes


async def run_sideband(websocket: WebSocket, call: StubCall, drop_after: int | None) -> None:
    """Accept, then relay until the call ends, the peer goes, or the drop fault fires."""
    await websocket.accept()
    queue = call.attach()

    async def outgoing() -> None:
        sent = 0
        while True:
            event = await queue.get()
            if event is None:
                await websocket.close(NORMAL_CLOSURE)
                return
            await websocket.send_text(json.dumps(event))
            sent += 1
            if drop_after is not None and sent >= drop_after:
                await websocket.close(INTERNAL_ERROR)
                return

    async def incoming() -> None:
        while True:
            text = await websocket.receive_text()
            event = _parse(text)
            if event is None:
                queue.put_nowait(
                    events.error("The event is not a JSON object with a type.", "invalid_json")
                )
            else:
                call.sideband_event(event)

    tasks = [asyncio.ensure_future(outgoing()), asyncio.ensure_future(incoming())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        call.detach(queue)
        for task in tasks:
            task.cancel()
        # A peer that went away mid-send leaves its error in a task; the pipe is closed anyway.
        await asyncio.gather(*tasks, return_exceptions=True)


def _parse(text: str) -> dict[str, Any] | None:
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event
