"""Realtime GA call control: create a call (SDP), hang it up, and its sideband WebSocket.

- `POST /v1/realtime/calls`: the provider key with the multipart `sdp` + `session` form (the
  "unified interface"), or a minted secret with a raw SDP offer; `201 application/sdp` and
  `Location: /v1/realtime/calls/rtc_...`. The beta `POST /v1/realtime?model=` answers the same way.
- `POST /v1/realtime/calls/{call_id}/hangup`: provider key; ends the peer and every sideband (or a
  phone call still ringing, `sip_routes.py`).
- `WS /v1/realtime?call_id=rtc_...`: provider key only (401 for a minted secret), 404
  `call_id_not_found` for a call that is not live.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from realtime_gateway.stub import minting
from realtime_gateway.stub.conversation import RealtimeConversation
from realtime_gateway.stub.forms import OfferError, parse_offer
from realtime_gateway.stub.http import (
    BAD_KEY,
    NO_KEY,
    bearer,
    error_response,
    is_provider_key,
    provider_key_refusal,
)
from realtime_gateway.stub.peer import StubCall
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.sessions import merge_session, realtime_session
from realtime_gateway.stub.sideband import run_sideband
from realtime_gateway.stub.state import StubState
from realtime_gateway.wire import ga_session_voice

ANSWER_TIMEOUT = 15.0


def _str_field(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


async def answer_call(state: StubState, call: StubCall, sdp: str) -> Response | None:
    """Answer the offer and register the call; an OpenAI-shaped 400 if it cannot be answered."""
    try:
        await asyncio.wait_for(call.answer(sdp), ANSWER_TIMEOUT)
    except (TimeoutError, ValueError) as error:
        await call.close("bad_offer")
        return error_response(
            400, f"The SDP offer could not be answered: {type(error).__name__}.", param="sdp"
        )
    state.calls.append(call.record)
    state.active[call.record.call_id] = call
    return None


async def _start_call(request: Request, model_override: str | None) -> Response:
    state: StubState = request.app.state.stub
    token = bearer(request)
    if token is None:
        return error_response(401, NO_KEY, code="missing_api_key")
    if is_provider_key(state, token):
        model, voice = minting.DEFAULT_MODEL, minting.DEFAULT_VOICE
        minted_session: dict[str, Any] = {}
    else:
        minted, why = state.secrets.lookup(token)
        if minted is None:
            message = "Ephemeral key has expired." if why == "expired" else BAD_KEY
            return error_response(401, message, code="invalid_api_key")
        model, voice, minted_session = minted.model, minted.voice, dict(minted.session)
    try:
        offer = parse_offer(request.headers.get("content-type", ""), await request.body())
    except OfferError as error:
        return error_response(400, str(error), param="sdp")
    model = _str_field(offer.session.get("model"), model_override or model)
    voice = ga_session_voice(offer.session) or voice
    session = realtime_session(
        minted_session.get("id", new_id("sess_")),
        model,
        voice,
        int(state.now()) + minting.SESSION_SECONDS,
        state.config.reply_on_speech,  # the stub's default; a request may set it either way
    )
    # The unified interface's `session` part configures the call, as OpenAI's does.
    session = merge_session(session, offer.session)
    record = CallRecord(call_id=new_id("rtc_"), model=model, voice=voice)
    config = state.config
    call = StubCall(
        record,
        lambda line: RealtimeConversation(line, session),
        max_seconds=config.max_call_seconds,
        use_espeak=config.use_espeak,
        greet=config.greet,
        on_end=state.forget,
    )
    refusal = await answer_call(state, call, offer.sdp)
    if refusal is not None:
        return refusal
    return Response(
        call.answer_sdp,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{record.call_id}"},
    )


async def create_call(request: Request) -> Response:
    return await _start_call(request, None)


async def create_call_beta(request: Request) -> Response:
    return await _start_call(request, request.query_params.get("model") or None)


async def hangup(request: Request) -> Response:
    return await hang_up(request, "realtime", "hangup")


async def hang_up(request: Request, kind: str, reason: str) -> Response:
    """Shared by Realtime's and Live's hang-up routes."""
    state: StubState = request.app.state.stub
    refusal = provider_key_refusal(request, state)
    if refusal is not None:
        return refusal
    call_id = request.path_params.get("call_id") or request.path_params.get("session_id", "")
    call = state.active.get(call_id)
    if call is None or call.record.kind != kind:
        phone = state.ringing(call_id, kind)
        if phone is not None:  # a phone call hung up before it was answered
            phone.stop_ringing("hung_up", end_reason=reason)
            return Response(status_code=200)
        return error_response(404, f"Call '{call_id}' not found.", code="call_id_not_found")
    if state.call_faults.take_hangup_failure():
        return error_response(500, "The server had an error while processing your request.")
    await call.close(reason)
    return Response(status_code=200)


async def sideband_refusal(
    websocket: WebSocket, state: StubState, call_id: str | None, kind: str
) -> tuple[JSONResponse | None, StubCall | None]:
    """The refusal a sideband upgrade gets (fault, key, unknown call), or the call it joins."""
    fault = state.call_faults.current
    if fault.sideband_refuse is not None:
        return error_response(fault.sideband_refuse), None
    refusal = provider_key_refusal(websocket, state)
    if refusal is not None:
        return refusal, None
    call = state.active.get(call_id or "")
    if call is None or call.record.kind != kind:
        return error_response(404, f"Call '{call_id}' not found.", code="call_id_not_found"), None
    return None, call


async def realtime_sideband(websocket: WebSocket) -> None:
    state: StubState = websocket.app.state.stub
    call_id = websocket.query_params.get("call_id")
    if call_id is None:
        refusal: JSONResponse | None = error_response(
            400, "The stub's realtime WebSocket joins a call: pass call_id.", param="call_id"
        )
        call = None
    else:
        refusal, call = await sideband_refusal(websocket, state, call_id, "realtime")
    if refusal is not None or call is None:
        await websocket.send_denial_response(refusal or error_response(404))
        return
    await run_sideband(websocket, call, state.call_faults.current.sideband_drop_after)
