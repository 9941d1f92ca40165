"""The phone routes: OpenAI's webhook, and a tenant's answer to a call forwarded to it.

POST /webhooks/openai                      OpenAI's signature; 401 for a bad, stale or
                                           replayed delivery; 404 with no webhook secret
POST /v1/realtime/calls/{call_id}/accept   tenant credential; the body is the GA session
POST /v1/realtime/calls/{call_id}/reject   tenant credential; `{"status_code": 486}`
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from realtime_gateway.gateway.errors import (
    InvalidRequest,
    NotFound,
    documented,
    documented_openai,
)
from realtime_gateway.gateway.phone.answer import DECLINE
from realtime_gateway.gateway.phone.webhook import BadDelivery
from realtime_gateway.gateway.routes.session import read_body
from realtime_gateway.gateway.runtime import RuntimeDep, TenantDep
from realtime_gateway.gateway.v1.session_request import parse_json_object

router = APIRouter()

MAX_WEBHOOK_BYTES = 256 * 1024  # OpenAI's events are a few KiB; SIP headers are bounded
MAX_ANSWER_BYTES = 64 * 1024


@router.post(
    "/webhooks/openai",
    summary="OpenAI's signed webhooks: incoming phone calls (Standard Webhooks)",
    responses={
        401: documented("unauthorized: bad, missing or stale signature, or a replayed delivery"),
        404: documented("not_found: no GATEWAY_OPENAI_WEBHOOK_SECRET is configured"),
        503: documented("calls_unavailable: the shared store (Redis) did not answer"),
    },
)
async def openai_webhook(request: Request, runtime: RuntimeDep) -> Response:
    gate = runtime.webhooks
    if gate is None:
        raise NotFound("no such route")
    body = await read_body(request, MAX_WEBHOOK_BYTES, runtime.settings.body_timeout)
    try:
        event = await gate.open(body, request.headers)
    except BadDelivery:
        runtime.phone.metrics.record(None, "webhook_refused")
        raise
    await runtime.phone.on_event(event)
    return Response(status_code=200)


async def json_object(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    raw = await read_body(request, MAX_ANSWER_BYTES, runtime.settings.body_timeout)
    return parse_json_object(raw)


ANSWER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: documented_openai("invalid_request: not a ringing forwarded call, or a bad body"),
    401: documented_openai("unauthorized: missing or invalid tenant credential"),
    404: documented_openai("not_found: no such call of this tenant"),
    500: documented_openai("provider_error: the provider refused or did not answer"),
}


@router.post(
    "/v1/realtime/calls/{call_id}/accept",
    summary="Accept a phone call forwarded to the tenant (the body is the session)",
    responses=ANSWER_ERRORS,
)
async def accept_call(request: Request, tenant: TenantDep, runtime: RuntimeDep) -> Response:
    call_id = request.path_params["call_id"]  # read by hand: no FastAPI 422
    session = await json_object(request, runtime)
    await runtime.phone.accept(tenant.name, call_id, session)
    return Response(status_code=200)


def sip_status(body: dict[str, Any], default: int | None) -> int:
    status = body.get("status_code", default)
    if isinstance(status, bool) or not isinstance(status, int) or not 300 <= status <= 699:
        raise InvalidRequest("status_code must be a SIP status from 300 to 699")
    return status


@router.post(
    "/v1/realtime/calls/{call_id}/reject",
    summary="Reject a phone call forwarded to the tenant (`status_code`, a SIP status)",
    responses=ANSWER_ERRORS,
)
async def reject_call(request: Request, tenant: TenantDep, runtime: RuntimeDep) -> Response:
    call_id = request.path_params["call_id"]  # read by hand: no FastAPI 422
    body = await json_object(request, runtime)
    await runtime.phone.reject(tenant.name, call_id, sip_status(body, DECLINE))
    return Response(status_code=200)


@router.post(
    "/v1/live/sessions/{call_id}/accept",
    summary="Accept a GPT-Live phone call forwarded to the tenant (`{session}`)",
    responses=ANSWER_ERRORS,
)
async def accept_live(request: Request, tenant: TenantDep, runtime: RuntimeDep) -> Response:
    call_id = request.path_params["call_id"]  # read by hand: no FastAPI 422
    session = (await json_object(request, runtime)).get("session")
    if not isinstance(session, dict):
        raise InvalidRequest("session must be an object")
    await runtime.phone.accept(tenant.name, call_id, session, live=True)
    return Response(status_code=200)


@router.post(
    "/v1/live/sessions/{call_id}/reject",
    summary="Reject a GPT-Live phone call forwarded to the tenant (`status_code` required)",
    responses=ANSWER_ERRORS,
)
async def reject_live(request: Request, tenant: TenantDep, runtime: RuntimeDep) -> Response:
    call_id = request.path_params["call_id"]  # read by hand: no FastAPI 422
    body = await json_object(request, runtime)
    await runtime.phone.reject(tenant.name, call_id, sip_status(body, None), live=True)
    return Response(status_code=200)
