"""`WS /v1/realtime`: the Realtime WebSocket as OpenAI serves it.

`?call_id=rtc_...` joins a WebRTC call's sideband (`realtime_calls.realtime_sideband`);
`?model=M`, or `?intent=transcription`, opens a session of its own, run here:

- The credential: `Authorization: Bearer <key>` (a server), or the browser form, subprotocols
  `realtime` + `openai-insecure-api-key.<key>`; the key is the provider key or an `ek_` secret
  minted by the stub (its model and voice then start the session). `realtime` is echoed.
- Refused before the upgrade, as OpenAI's error JSON: 401 without a key or with an unknown or
  expired one, 400 without a model or with another `intent`.
- `session.created` first; then client events to the dialect (`conversation.py`, or
  `transcription.py`), server events back as text frames (`ws_line.py`). A frame that is not a
  JSON event gets an `error` event, and the session goes on.
- Each session is a record in `/_stub/calls` (`transport: websocket`) whose `end_reason` is
  `client_closed`, `max_duration` (after an `error` event `session_expired`), `server_closed`
  (the `session_drop_after` fault; 1011), `client_not_reading` (its outbox overflowed; 1008) or
  `shutdown` (the stub stopped; 1012).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi.responses import JSONResponse
from starlette.websockets import WebSocket

from realtime_gateway.stub import events, minting
from realtime_gateway.stub.conversation import RealtimeConversation
from realtime_gateway.stub.dialect import Dialect
from realtime_gateway.stub.http import BAD_KEY, NO_KEY, bearer, error_response, is_provider_key
from realtime_gateway.stub.realtime_calls import realtime_sideband
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.sessions import realtime_session, transcription_session
from realtime_gateway.stub.state import StubState
from realtime_gateway.stub.transcription import TranscriptionSession
from realtime_gateway.stub.ws_line import WebSocketLine

KEY_SUBPROTOCOL = "openai-insecure-api-key."
FLUSH_SECONDS = 2.0  # how long a server-side end waits for its last events to go out
# Close codes of a server-side end (a client's close needs none).
_CLOSE_CODES = {"server_closed": 1011, "client_not_reading": 1008}
SHUTDOWN_CODE = 1012  # uvicorn's "service restart", as the stub stops


async def realtime_websocket(websocket: WebSocket) -> None:
    if "call_id" in websocket.query_params:
        await realtime_sideband(websocket)
        return
    state: StubState = websocket.app.state.stub
    admitted = _admit(websocket, state)
    if isinstance(admitted, JSONResponse):
        await websocket.send_denial_response(admitted)
        return
    subprotocol = "realtime" if "realtime" in websocket.scope.get("subprotocols", []) else None
    await websocket.accept(subprotocol=subprotocol)
    state.calls.append(admitted.record)
    await run_session(websocket, admitted, state)


def _credential(websocket: WebSocket) -> str | None:
    token = bearer(websocket)
    if token is not None:
        return token
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(KEY_SUBPROTOCOL) and len(offered) > len(KEY_SUBPROTOCOL):
            return str(offered[len(KEY_SUBPROTOCOL) :])
    return None


def _admit(websocket: WebSocket, state: StubState) -> JSONResponse | WebSocketLine:
    """The refusal this upgrade gets, or the line of the session it opens."""
    fault = state.call_faults.current
    if fault.session_refuse is not None:
        return error_response(fault.session_refuse)
    token = _credential(websocket)
    if token is None:
        return error_response(401, NO_KEY, code="missing_api_key")
    model, voice, session_id = websocket.query_params.get("model"), minting.DEFAULT_VOICE, None
    if not is_provider_key(state, token):
        minted, why = state.secrets.lookup(token)
        if minted is None:
            message = "Ephemeral key has expired." if why == "expired" else BAD_KEY
            return error_response(401, message, code="invalid_api_key")
        model, voice, session_id = model or minted.model, minted.voice, minted.session_id
    intent = websocket.query_params.get("intent")
    if intent not in (None, "transcription"):
        return error_response(400, f"Invalid value for 'intent': '{intent}'.", param="intent")
    if intent is None and not model:
        return error_response(400, "Missing required parameter: 'model'.", param="model")
    config = state.config
    session_id = session_id or new_id("sess_")
    expires_at = int(state.now()) + minting.SESSION_SECONDS
    record = CallRecord(
        call_id=session_id,
        model=model or "",
        voice=voice,
        kind=intent or "realtime",
        transport="websocket",
        connected=True,
    )

    def dialect(line: WebSocketLine) -> Dialect:
        if intent == "transcription":
            return TranscriptionSession(line, transcription_session(session_id, model, expires_at))
        session = realtime_session(
            session_id, str(model), voice, expires_at, config.reply_on_speech
        )
        return RealtimeConversation(line, session)

    line = WebSocketLine(
        record,
        dialect,
        use_espeak=config.use_espeak,
        audio_speed=config.ws_audio_speed,
        chunk_ms=config.ws_audio_chunk_ms,
    )
    return line


async def run_session(websocket: WebSocket, line: WebSocketLine, state: StubState) -> None:
    """From `session.created` to the close, whichever side ends it."""
    line.dialect.opened()
    line.end_after(state.config.max_call_seconds)
    drop_after = state.call_faults.current.session_drop_after
    sender = asyncio.ensure_future(_send(websocket, line, drop_after))
    receiver = asyncio.ensure_future(_receive(websocket, line))
    ending = asyncio.ensure_future(line.ending.wait())
    tasks = (sender, receiver, ending)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if ending in done:
            reason = line.end_reason
        elif receiver in done:
            reason = _result(receiver, "client_closed")
        else:
            reason = _result(sender, "client_closed")
        receiver.cancel()
        line.close(reason)
        if reason in _CLOSE_CODES or ending in done:
            # A server-side end: the last events (an `error`, say), then the close frame.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(sender), FLUSH_SECONDS)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(_CLOSE_CODES.get(reason, 1000)), FLUSH_SECONDS
                )
    finally:
        line.close("client_closed")  # an error above: the session is over all the same
        for task in tasks:
            task.cancel()
        # A peer that went away mid-send leaves its error in a task; the socket is closed anyway.
        await asyncio.gather(*tasks, return_exceptions=True)


def _result(task: asyncio.Task[str], otherwise: str) -> str:
    if task.cancelled() or task.exception() is not None:
        return otherwise
    return task.result()


async def _send(websocket: WebSocket, line: WebSocketLine, drop_after: int | None) -> str:
    """Server events out, until the line closes ("closed") or the drop fault fires."""
    sent = 0
    while True:
        event = await line.outbox.get()
        if event is None:
            return "closed"
        await websocket.send_text(json.dumps(event))
        sent += 1
        if drop_after is not None and sent >= drop_after:
            return "server_closed"


async def _receive(websocket: WebSocket, line: WebSocketLine) -> str:
    """Client events in, until the client (or the stopping server) closes."""
    record = line.record
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return "shutdown" if message.get("code") == SHUTDOWN_CODE else "client_closed"
        event = _parse(message.get("text"))
        if event is None:
            line.emit(events.error("The event is not a JSON object with a type.", "invalid_json"))
            continue
        event_type = str(event["type"])
        if event_type != "input_audio_buffer.append":  # 50 a second: counted as frames heard
            record.client_events.append(event_type)
        line.dialect.client_event(event, from_sideband=False)


def _parse(text: str | None) -> dict[str, Any] | None:
    if text is None:  # a binary frame: OpenAI's events are text
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event
