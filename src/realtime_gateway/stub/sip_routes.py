"""OpenAI's side of phone calls (SIP) on the stub: a test-only dial, then the call control an app
answers with, all with the provider key.

- `POST /_stub/sip/dial` (test and demo only): a pending call with the SIP headers given; its
  signed `realtime.call.incoming` (`rtc_...`) or `live.transport.incoming` (`live_...`) webhook
  goes to `StubConfig.webhook_url`, retried (`webhook_delivery.py`). Answers `201 {call_id, ...}`.
- `POST /v1/realtime/calls/{call_id}/accept` (the GA session as the body), `/reject`
  (`status_code`, default 603), `/refer` (`target_uri`; the call then ends `transferred`).
- `POST /v1/live/sessions/{session_id}/accept` (`{session: {type: live, model, ...}}`),
  `/reject` (`status_code` required), `/refer`.
- Hang-up (ringing or accepted) and the sidebands are the WebRTC calls' own routes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from realtime_gateway.stub import minting
from realtime_gateway.stub.conversation import RealtimeConversation
from realtime_gateway.stub.http import error_response, provider_key_refusal
from realtime_gateway.stub.live_routes import session_resource
from realtime_gateway.stub.live_session import LiveSession
from realtime_gateway.stub.records import CallRecord, SipDetails
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.sessions import merge_session
from realtime_gateway.stub.sip_answer import start_phone_call
from realtime_gateway.stub.sip_dial import DialError, incoming_event, parse_dial, sip_headers
from realtime_gateway.stub.sip_ringing import PhoneCall
from realtime_gateway.stub.state import StubState
from realtime_gateway.webhook_signing import new_webhook_id
from realtime_gateway.wire import ga_session_voice

MAX_BODY_BYTES = 64 * 1024
MAX_URI_CHARS = 2048
REFER_SCHEMES = ("tel:", "sip:", "sips:")
DEFAULT_REJECT_STATUS = 603  # Decline, as OpenAI's Realtime reject defaults to


def _invalid(message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    return error_response(400, message, param=param, code=code)


async def _gate(request: Request) -> tuple[StubState, dict[str, Any] | JSONResponse]:
    """The provider key first, then a bounded JSON object body (empty reads as `{}`)."""
    state: StubState = request.app.state.stub
    refusal = provider_key_refusal(request, state)
    if refusal is not None:
        return state, refusal
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return state, error_response(413, "The request body is too large.")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return state, _invalid("We could not parse the JSON body of your request.", "body")
    if not isinstance(body, dict):
        return state, _invalid("The request body must be a JSON object.", "body")
    return state, body


def _ringing(state: StubState, call_id: str, kind: str) -> PhoneCall | JSONResponse:
    phone = state.phone_calls.get(call_id)
    if phone is None or phone.record.kind != kind:
        return error_response(404, f"Call '{call_id}' not found.", code="call_id_not_found")
    if not phone.ringing:
        return _invalid(
            f"Call '{call_id}' is no longer ringing ({phone.sip.outcome}).",
            code="call_not_ringing",
        )
    return phone


async def dial(request: Request) -> Response:
    state, body = await _gate(request)
    if isinstance(body, JSONResponse):
        return body
    try:
        wanted = parse_dial(body)
    except DialError as error:
        return _invalid(str(error), error.param)
    if state.webhooks is None:
        return _invalid(
            "The stub has no webhook URL to announce the call to "
            "(realtime-gateway stub --webhook-url).",
            code="webhook_not_configured",
        )
    call_id = new_id("live_" if wanted.api == "live" else "rtc_")
    headers = sip_headers(wanted)
    event = incoming_event(wanted.api, call_id, headers, new_id("evt_"), int(state.now()))
    details = SipDetails(
        to_number=wanted.to,
        from_number=wanted.from_,
        sip_headers=headers,
        speak=wanted.speak,
        event_type=event["type"],
        event_id=event["id"],
        webhook_id=new_webhook_id(),
    )
    # Model and voice are the accepting session's, unknown while the call rings.
    record = CallRecord(call_id=call_id, model="", voice="", kind=wanted.api, sip=details)
    phone = PhoneCall(record, wanted)
    state.calls.append(phone.record)
    state.phone_calls[call_id] = phone
    phone.ring(state.webhooks, event, state.config.sip_ring_seconds)
    return JSONResponse(
        {"call_id": call_id, "event_type": event["type"], "webhook_id": details.webhook_id},
        status_code=201,
    )


async def accept_realtime(request: Request) -> Response:
    state, body = await _gate(request)
    if isinstance(body, JSONResponse):
        return body
    phone = _ringing(state, request.path_params["call_id"], "realtime")
    if isinstance(phone, JSONResponse):
        return phone
    if body.get("type") != "realtime":
        return _invalid("Invalid 'type': expected 'realtime'.", "type")
    model = body.get("model")
    model = model if isinstance(model, str) and model else minting.DEFAULT_MODEL
    voice = ga_session_voice(body) or minting.DEFAULT_VOICE
    base = minting.ga_session(
        new_id("sess_"), model, voice, int(state.now()) + minting.SESSION_SECONDS
    )
    # The accept body configures the call as the unified interface's `session` part does; the
    # default turn detection answers the caller (OpenAI's `create_response: true`).
    session = merge_session(base, body)
    _accepted(phone, model, voice, body)
    start_phone_call(
        state,
        phone,
        lambda line: RealtimeConversation(line, session),
        max_seconds=state.config.max_call_seconds,
    )
    return Response(status_code=200)


async def accept_live(request: Request) -> Response:
    state, body = await _gate(request)
    if isinstance(body, JSONResponse):
        return body
    phone = _ringing(state, request.path_params["session_id"], "live")
    if isinstance(phone, JSONResponse):
        return phone
    session = body.get("session")
    if not isinstance(session, dict):
        return _invalid("Missing required parameter: 'session'.", "session")
    if session.get("type") != "live":
        return _invalid("Invalid 'session.type': expected 'live'.", "session.type")
    if not isinstance(session.get("model"), str) or not session["model"]:
        return _invalid("Missing required parameter: 'session.model'.", "session.model")
    config = state.config
    resource = session_resource(phone.call_id, session, int(state.now() + config.live_max_seconds))
    _accepted(phone, session["model"], str(resource["audio"]["output"]["voice"]), session)
    start_phone_call(
        state, phone, lambda line: LiveSession(line, resource), max_seconds=config.live_max_seconds
    )
    return Response(status_code=200)


def _accepted(phone: PhoneCall, model: str, voice: str, session: dict[str, Any]) -> None:
    phone.stop_ringing("accepted", end_reason=None)
    phone.record.model, phone.record.voice = model, voice
    phone.sip.session = copy.deepcopy(session)


async def _reject(request: Request, kind: str, status_required: bool) -> Response:
    state, body = await _gate(request)
    if isinstance(body, JSONResponse):
        return body
    call_id = request.path_params.get("call_id") or request.path_params.get("session_id", "")
    phone = _ringing(state, call_id, kind)
    if isinstance(phone, JSONResponse):
        return phone
    if status_required and "status_code" not in body:
        return _invalid("Missing required parameter: 'status_code'.", "status_code")
    status = body.get("status_code", DEFAULT_REJECT_STATUS)
    if isinstance(status, bool) or not isinstance(status, int) or not 300 <= status <= 699:
        return _invalid("Invalid 'status_code': a SIP status from 300 to 699.", "status_code")
    phone.stop_ringing("rejected", end_reason="rejected")
    phone.sip.status_code = status
    return Response(status_code=200)


async def reject_realtime(request: Request) -> Response:
    return await _reject(request, "realtime", status_required=False)


async def reject_live(request: Request) -> Response:
    return await _reject(request, "live", status_required=True)


async def _refer(request: Request, kind: str) -> Response:
    state, body = await _gate(request)
    if isinstance(body, JSONResponse):
        return body
    call_id = request.path_params.get("call_id") or request.path_params.get("session_id", "")
    target = body.get("target_uri")
    if not isinstance(target, str) or not target.strip():
        return _invalid("Missing required parameter: 'target_uri'.", "target_uri")
    target = target.strip()
    if (
        len(target) > MAX_URI_CHARS
        or not target.lower().startswith(REFER_SCHEMES)
        or any(c in target for c in "\r\n\0 ")
    ):
        return _invalid("Invalid 'target_uri': a tel:, sip: or sips: URI.", "target_uri")
    call = state.active.get(call_id)
    if call is None or call.record.kind != kind:
        if state.ringing(call_id, kind) is not None:
            return _invalid(f"Call '{call_id}' has not been accepted.", code="call_not_active")
        return error_response(404, f"Call '{call_id}' not found.", code="call_id_not_found")
    sip = call.record.sip
    if sip is None:
        return _invalid("Only SIP calls can be referred.", code="call_not_sip")
    sip.outcome, sip.refer_target = "referred", target
    await call.close("transferred")
    return Response(status_code=200)


async def refer_realtime(request: Request) -> Response:
    return await _refer(request, "realtime")


async def refer_live(request: Request) -> Response:
    return await _refer(request, "live")


def add_sip_routes(app: FastAPI) -> None:
    app.add_api_route("/_stub/sip/dial", dial, methods=["POST"])
    for action, realtime, live in (
        ("accept", accept_realtime, accept_live),
        ("reject", reject_realtime, reject_live),
        ("refer", refer_realtime, refer_live),
    ):
        app.add_api_route(f"/v1/realtime/calls/{{call_id}}/{action}", realtime, methods=["POST"])
        app.add_api_route(f"/v1/live/sessions/{{session_id}}/{action}", live, methods=["POST"])
