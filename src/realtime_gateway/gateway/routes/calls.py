"""`/realtime_calls`: the brokered SDP exchange (`POST`, with a call token) and the caller's
view of its calls (`GET`, `DELETE`, with the tenant credential or the creating call token)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from realtime_gateway.gateway.addresses import path_prefix
from realtime_gateway.gateway.auth import bearer_token
from realtime_gateway.gateway.calls.offer import parse_offer
from realtime_gateway.gateway.calls.record import CallRecord
from realtime_gateway.gateway.calls.tokens import token_tenant
from realtime_gateway.gateway.errors import Unauthorized, documented
from realtime_gateway.gateway.routes.session import read_body
from realtime_gateway.gateway.runtime import Runtime, RuntimeDep, TenantDep, runtime_of

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}
CALLS_PATH = "/realtime_calls"

CALL_ERRORS: dict[int | str, dict[str, Any]] = {
    400: documented("invalid_request: the body is not an SDP offer"),
    401: documented("unauthorized: unknown, expired or already used call token"),
    408: documented("request_timeout: the offer did not arrive in time"),
    413: documented("payload_too_large: the offer is over the limit (64 KiB by default)"),
    500: documented("provider_error: the provider refused, failed or did not answer"),
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: documented("unauthorized: missing or invalid credential"),
    404: documented("not_found: no such call for this credential"),
    500: documented("provider_error: the provider did not confirm the hangup"),
}

# The id is read from the path by hand: a declared parameter would add FastAPI's 422 answer,
# which this gateway never gives (a bad id is simply not found).
CALL_ID_PARAMETER: dict[str, Any] = {
    "parameters": [
        {
            "name": "call_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^call_[0-9a-f]{24}$"},
            "description": "the gateway's call id, from the Location of POST /realtime_calls",
        }
    ]
}


@router.post(
    "/realtime_calls",
    summary="Brokered: post an SDP offer with a call token; the gateway creates the call",
    status_code=201,
    response_class=Response,
    responses={
        201: {"content": {"application/sdp": {}}, "description": "the answer SDP"},
        **CALL_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/sdp": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"sdp": {"type": "string"}, "session": {"type": "string"}},
                        "required": ["sdp"],
                    }
                },
            },
        }
    },
)
async def create_call(request: Request) -> Response:
    """A plain Starlette endpoint, served by `routes/hot.py` before this documented route.
    The token is redeemed (a slot taken) before the body is read: a made-up token costs a
    Redis round trip and nothing else."""
    runtime = runtime_of(request)
    token = bearer_token(request.headers.get("authorization"))
    tenant = token_tenant(token)
    if tenant is None:
        raise Unauthorized("expected a call token from /realtime_session")
    calls = runtime.calls
    admission = await calls.admit(tenant, "webrtc", token=token)
    settings = runtime.settings
    try:
        raw = await read_body(request, settings.max_offer_bytes, settings.body_timeout)
        sdp = parse_offer(request.headers.get("content-type", ""), raw)
    except BaseException:
        await calls.abandon(admission)
        raise
    started = time.perf_counter()
    record, answer = await calls.connect_webrtc(admission, sdp)
    # How long the provider's side took, so a slow call start can be placed (W3C Server-Timing).
    timing = f"broker;dur={(time.perf_counter() - started) * 1000:.1f}"
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={
            "Location": f"{path_prefix(settings.public_url)}{CALLS_PATH}/{record.call_id}",
            "Server-Timing": timing,
            **NO_STORE,
        },
    )


@router.get(
    "/realtime_calls",
    summary="The calling tenant's live brokered calls",
    responses={401: READ_ERRORS[401]},
)
async def list_calls(tenant: TenantDep, runtime: RuntimeDep) -> JSONResponse:
    records = await runtime.calls.live(tenant.name)
    now = await runtime.calls.store.now_ms()
    return JSONResponse({"calls": [r.to_public(now) for r in records]}, headers=NO_STORE)


@router.get(
    "/realtime_calls/{call_id}",
    summary="One call: status, start, deadline, usage so far, why it ended",
    responses=READ_ERRORS,
    openapi_extra=CALL_ID_PARAMETER,
)
async def get_call(request: Request, runtime: RuntimeDep) -> JSONResponse:
    record = await call_for_credential(request, runtime)
    body = record.to_public(await runtime.calls.store.now_ms())
    left = await runtime.calls.budget_left_ms(record.tenant)
    body["audio_seconds_left_today"] = None if left is None else round(left / 1000, 3)
    return JSONResponse(body, headers=NO_STORE)


@router.delete(
    "/realtime_calls/{call_id}",
    summary="Hang up a call at the provider (ended_reason caller_hangup)",
    responses=READ_ERRORS,
    openapi_extra=CALL_ID_PARAMETER,
)
async def end_call(request: Request, runtime: RuntimeDep) -> JSONResponse:
    record = await call_for_credential(request, runtime)
    ended = await runtime.calls.end(record, "caller_hangup")
    return JSONResponse(ended.to_public(await runtime.calls.store.now_ms()), headers=NO_STORE)


async def call_for_credential(request: Request, runtime: Runtime) -> CallRecord:
    """The call, if the credential is its tenant's or the call token that created it; else
    404 (never 403: whether another tenant's call exists is not the caller's to know)."""
    authorization = request.headers.get("authorization")
    call_id = request.path_params["call_id"]
    token = bearer_token(authorization)
    if token_tenant(token) is not None:
        return await runtime.calls.find_for_token(token, call_id)
    tenant = runtime.authenticator.authenticate(authorization)
    return await runtime.calls.find(tenant.name, call_id)
