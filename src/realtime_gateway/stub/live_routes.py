"""OpenAI's Live API routes on the stub: create a session over WebRTC, hang it up, attach to it.

- `POST /v1/live/sessions` (provider key): `{session: {model, audio: {output: {voice}},
  instructions?, client?: {data_channel: {...}}}, transport: {type: "webrtc", sdp}}` answers
  `{session: {id: "live_..."}, transport: {type: "webrtc", sdp: <answer>}}`.
- `POST /v1/live/sessions/{session_id}/hangup` (provider key): `session.closed` with
  `close_requested`; 404 `call_id_not_found` for a session that is not live.
- `WS /v1/live/sessions/{session_id}/attach` (provider key only): the sideband.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from realtime_gateway.stub.http import error_response, provider_key_refusal
from realtime_gateway.stub.live_session import DEFAULT_VOICE, LiveSession
from realtime_gateway.stub.peer import StubCall
from realtime_gateway.stub.realtime_calls import answer_call, hang_up, sideband_refusal
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.sideband import run_sideband
from realtime_gateway.stub.state import StubState


def _invalid(message: str, param: str) -> JSONResponse:
    return error_response(400, message, param=param)


def session_resource(session_id: str, session: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """OpenAI's `SessionResource` for a new Live session."""
    audio = session.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    voice = (output.get("voice") if isinstance(output, dict) else None) or DEFAULT_VOICE
    resource: dict[str, Any] = {
        "id": session_id,
        "expires_at": expires_at,
        "model": session["model"],
        "status": "active",
        "audio": {"output": {"voice": voice}},
    }
    for key in ("instructions", "client", "input", "safety_identifier", "store", "delegation"):
        if key in session:
            resource[key] = session[key]
    return resource


async def create_live_session(request: Request) -> Response:
    state: StubState = request.app.state.stub
    refusal = provider_key_refusal(request, state)
    if refusal is not None:
        return refusal
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _invalid("We could not parse the JSON body of your request.", "body")
    if not isinstance(body, dict):
        return _invalid("The request body must be a JSON object.", "body")
    session, transport = body.get("session"), body.get("transport")
    if not isinstance(session, dict) or not isinstance(session.get("model"), str):
        return _invalid("Missing required parameter: 'session.model'.", "session.model")
    if not isinstance(transport, dict) or transport.get("type") != "webrtc":
        return _invalid("Invalid 'transport.type': expected 'webrtc'.", "transport.type")
    sdp = transport.get("sdp")
    if not isinstance(sdp, str) or not sdp.lstrip().startswith("v=0") or "\nm=" not in sdp:
        return _invalid("'transport.sdp' is not an SDP offer.", "transport.sdp")
    config = state.config
    session_id = new_id("live_")
    resource = session_resource(session_id, session, int(state.now() + config.live_max_seconds))
    voice = resource["audio"]["output"]["voice"]
    record = CallRecord(call_id=session_id, model=session["model"], voice=str(voice), kind="live")
    call = StubCall(
        record,
        lambda line: LiveSession(line, resource),
        max_seconds=config.live_max_seconds,
        use_espeak=config.use_espeak,
        greet=config.greet,
        on_end=state.forget,
    )
    refused = await answer_call(state, call, sdp)
    if refused is not None:
        return refused
    return JSONResponse(
        {"session": {"id": session_id}, "transport": {"type": "webrtc", "sdp": call.answer_sdp}}
    )


async def hangup_live_session(request: Request) -> Response:
    return await hang_up(request, "live", "close_requested")


async def attach(websocket: WebSocket) -> None:
    state: StubState = websocket.app.state.stub
    session_id = websocket.path_params["session_id"]
    refusal, call = await sideband_refusal(websocket, state, session_id, "live")
    if refusal is not None or call is None:
        await websocket.send_denial_response(refusal or error_response(404))
        return
    await run_sideband(websocket, call, state.call_faults.current.sideband_drop_after)


def add_live_routes(app: FastAPI) -> None:
    app.add_api_route("/v1/live/sessions", create_live_session, methods=["POST"])
    app.add_api_route(
        "/v1/live/sessions/{session_id}/hangup", hangup_live_session, methods=["POST"]
    )
    app.add_api_websocket_route("/v1/live/sessions/{session_id}/attach", attach)
