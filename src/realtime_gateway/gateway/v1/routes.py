"""The OpenAI-compatible surface (`/v1`, DESIGN section 12): OpenAI's SDKs work against the
gateway unchanged but for their base URL, with a tenant credential in place of the provider key.

    POST /v1/realtime/client_secrets          tenant      a call token (`ek_rtg_...`), GA shape
    POST /v1/realtime/sessions                tenant      the same, beta shape
    POST /v1/realtime/calls                   token       raw SDP or multipart `sdp` (+ `session`)
                                              tenant      multipart `sdp` + `session`
    POST /v1/realtime/calls/{id}/hangup       either      ends it, `caller_hangup`
    POST /v1/realtime/calls/{id}/refer        tenant      a phone call, to a `refer_targets` URI
    POST /v1/live/sessions                    tenant      a GPT-Live call, brokered
    POST /v1/live/sessions/{id}/hangup        tenant      ends it

On `/v1` the gateway always brokers: no provider credential leaves it, and every call is on the
leash (`Calls.admit`). Minting and calls made with a tenant credential spend from the same
session-creation rate as `/realtime_session`. Errors have OpenAI's shape (`errors.error_body`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from realtime_gateway.gateway.addresses import path_prefix, public_base
from realtime_gateway.gateway.auth import bearer_token
from realtime_gateway.gateway.calls.offer import Offer, read_offer
from realtime_gateway.gateway.calls.record import CallRecord, CallSpec
from realtime_gateway.gateway.calls.service import Admission
from realtime_gateway.gateway.calls.tokens import token_tenant
from realtime_gateway.gateway.errors import (
    InvalidRequest,
    ProviderUnavailable,
    TransferNotAllowed,
    documented_openai,
)
from realtime_gateway.gateway.policy import normalise_uri
from realtime_gateway.gateway.providers.base import MintedSession
from realtime_gateway.gateway.providers.live import live_session as live_upstream_session
from realtime_gateway.gateway.providers.realtime import realtime_session
from realtime_gateway.gateway.providers.registry import provider_named
from realtime_gateway.gateway.routes.calls import call_for_credential
from realtime_gateway.gateway.routes.session import (
    MintAudit,
    read_body,
    spend_session_quota,
)
from realtime_gateway.gateway.runtime import Runtime, authenticated_tenant, runtime_of
from realtime_gateway.gateway.v1.session_request import (
    AskedSession,
    beta_session_request,
    client_secret_request,
    ga_session,
    live_session,
    parse_json_object,
)

CALLS_PATH = "/v1/realtime/calls"
LIVE_PATH = "/v1/live/sessions"
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter()

MINT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: documented_openai("invalid_request: the session asked for is not valid or not allowed"),
    401: documented_openai("unauthorized: missing or invalid tenant credential"),
    408: documented_openai("request_timeout: the body did not arrive in time"),
    413: documented_openai("payload_too_large: the body is over the limit"),
    429: documented_openai("rate_limited: the tenant's session-creation rate is spent"),
    503: documented_openai("calls_unavailable / limiter_unavailable: Redis is down"),
}
CALL_ERRORS: dict[int | str, dict[str, Any]] = {
    **MINT_ERRORS,
    401: documented_openai("unauthorized: unknown, expired or used call token, or bad credential"),
    429: documented_openai("too_many_calls / quota_exceeded / rate_limited: the leash refused"),
    500: documented_openai("provider_error: the provider refused, failed or did not answer"),
}
ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    401: documented_openai("unauthorized: missing or invalid credential"),
    403: documented_openai("transfer_not_allowed: the target is not in the tenant's refer_targets"),
    404: documented_openai("not_found: no such call for this credential"),
    500: documented_openai("provider_error: the provider did not confirm"),
}
REFER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: documented_openai("invalid_request: no target_uri, or the call is not a live phone call"),
    408: documented_openai("request_timeout: the body did not arrive in time"),
    **ACTION_ERRORS,
}


# -- minting ---------------------------------------------------------------------------------


async def create_client_secret(request: Request) -> JSONResponse:
    """OpenAI's GA `client_secrets`: `{value, expires_at, session}`, `value` a call token."""
    runtime = runtime_of(request)
    tenant = await authenticated_tenant(request, runtime)
    minted, spec, decision = await _mint(request, runtime, tenant.name, client_secret_request)
    policy = runtime.calls.policies.for_tenant(tenant.name)
    expires_at = int(minted.client_secret_expires_at.timestamp())
    session = {
        "id": minted.id,
        "object": "realtime.session",
        "expires_at": 0,
        **realtime_session(spec, policy),
    }
    body = {"value": minted.client_secret, "expires_at": expires_at, "session": session}
    return JSONResponse(body, headers={**NO_STORE, **decision.headers()})


async def create_beta_session(request: Request) -> JSONResponse:
    """The beta `POST /realtime/sessions` shape, with `client_secret` a call token."""
    runtime = runtime_of(request)
    tenant = await authenticated_tenant(request, runtime)
    minted, spec, decision = await _mint(request, runtime, tenant.name, beta_session_request)
    policy = runtime.calls.policies.for_tenant(tenant.name)
    expires_at = int(minted.client_secret_expires_at.timestamp())
    upstream = realtime_session(spec, policy)
    body = {
        "id": minted.id,
        "object": "realtime.session",
        "model": spec.model,
        "voice": spec.voice,
        "expires_at": expires_at,
        **({"instructions": upstream["instructions"]} if "instructions" in upstream else {}),
        "client_secret": {"value": minted.client_secret, "expires_at": expires_at},
    }
    return JSONResponse(body, headers={**NO_STORE, **decision.headers()})


async def _mint(
    request: Request, runtime: Runtime, tenant: str, parse: Any
) -> tuple[MintedSession, CallSpec, Any]:
    """Body, rate limit, token: as `/realtime_session` in brokered mode, audited alike."""
    with MintAudit(runtime, tenant) as audit:
        settings = runtime.settings
        raw = await read_body(request, settings.max_body_bytes, settings.body_timeout)
        asked: AskedSession = parse(raw, runtime.rules)
        endpoint = runtime.rules.default_endpoint
        audit.model, audit.voice, audit.endpoint = asked.model, asked.voice, endpoint
        decision = await spend_session_quota(runtime, tenant)
        spec = runtime.calls.spec_for(endpoint, asked.model, asked.voice, asked.fields)
        webrtc_url = public_base(settings.public_url, request.scope) + CALLS_PATH
        minted = await runtime.calls.mint_token(tenant, spec, webrtc_url, ttl=asked.ttl)
        audit.session_id = minted.id
        return minted, spec, decision


# -- calls -----------------------------------------------------------------------------------


async def create_call(request: Request) -> Response:
    """A WebRTC call: with a call token (the browser SDK; the grant's session, and a `session`
    part within it), or with the tenant credential and a `session` part (OpenAI's unified
    interface, where the app's server posts the browser's offer)."""
    runtime = runtime_of(request)
    token = bearer_token(request.headers.get("authorization"))
    tenant = token_tenant(token)
    if tenant is not None:
        return await _call_with_token(request, runtime, tenant, token)
    caller = await authenticated_tenant(request, runtime)
    return await _call_with_tenant(request, runtime, caller.name)


async def _call_with_token(request: Request, runtime: Runtime, tenant: str, token: str) -> Response:
    calls = runtime.calls
    admission = await calls.admit(tenant, "webrtc", token=token)
    try:
        offer = await _offer(request, runtime)
        if offer.session is not None:
            admission = _within_grant(admission, offer.session, runtime)
    except BaseException:
        await calls.abandon(admission)
        raise
    return await _connect(runtime, admission, offer.sdp)


def _within_grant(admission: Admission, part: bytes, runtime: Runtime) -> Admission:
    """The `session` part on top of what the token was minted for: the same model, the asked
    fields over the grant's; the tenant's pins are applied over both when the call is made."""
    granted = admission.record.spec
    asked = ga_session(parse_json_object(part, "session part"), runtime.rules, minted=granted)
    spec = replace(granted, voice=asked.voice, session={**granted.session, **asked.fields})
    return replace(admission, record=admission.record.with_state(spec=spec))


async def _call_with_tenant(request: Request, runtime: Runtime, tenant: str) -> Response:
    with MintAudit(runtime, tenant) as audit:
        offer = await _offer(request, runtime)
        if offer.session is None:
            raise InvalidRequest(
                "with a tenant credential the offer is multipart with a 'session' part"
            )
        asked = ga_session(parse_json_object(offer.session, "session part"), runtime.rules)
        endpoint = runtime.rules.default_endpoint
        audit.model, audit.voice, audit.endpoint = asked.model, asked.voice, endpoint
        record, answer = await _tenant_call(runtime, audit, tenant, asked, offer.sdp)
        return _answer(runtime, record, answer)


async def _offer(request: Request, runtime: Runtime) -> Offer:
    settings = runtime.settings
    raw = await read_body(request, settings.max_offer_bytes, settings.body_timeout)
    return read_offer(request.headers.get("content-type", ""), raw)


async def _tenant_call(
    runtime: Runtime, audit: MintAudit, tenant: str, asked: AskedSession, sdp: str
) -> tuple[CallRecord, str]:
    """A call made with the tenant's credential: one session of its rate, admitted on the
    leash, created at the provider (a provider failure gives the session back)."""
    decision = await spend_session_quota(runtime, tenant)
    calls = runtime.calls
    spec = calls.spec_for(runtime.rules.default_endpoint, asked.model, asked.voice, asked.fields)
    admission = await calls.admit(tenant, "webrtc", spec=spec)
    audit.session_id = admission.record.call_id
    try:
        return await calls.connect_webrtc(admission, sdp)
    except ProviderUnavailable:
        await runtime.limiter.refund(tenant, decision)  # the provider failed, not the tenant
        raise


async def _connect(runtime: Runtime, admission: Admission, sdp: str) -> Response:
    record, answer = await runtime.calls.connect_webrtc(admission, sdp)
    return _answer(runtime, record, answer)


def _answer(runtime: Runtime, record: CallRecord, answer: str) -> Response:
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={
            "Location": f"{path_prefix(runtime.settings.public_url)}{CALLS_PATH}/{record.call_id}",
            **NO_STORE,
        },
    )


async def hang_up_call(request: Request) -> Response:
    """Ends the call (`caller_hangup`); 200 with an empty body, as OpenAI answers."""
    runtime = runtime_of(request)
    record = await call_for_credential(request, runtime)
    await runtime.calls.end(record, "caller_hangup")
    return Response(status_code=200, headers=NO_STORE)


async def refer_call(request: Request) -> Response:
    """Transfers a phone call, only to a target the tenant's policy lists."""
    runtime = runtime_of(request)
    tenant = await authenticated_tenant(request, runtime)
    settings = runtime.settings
    raw = await read_body(request, settings.max_body_bytes, settings.body_timeout)
    body = parse_json_object(raw)
    target = body.get("target_uri")
    if not isinstance(target, str) or not target.strip() or len(target) > 2048:
        raise InvalidRequest("target_uri must be a tel: or sip: URI")
    # The target first: a forbidden transfer is refused whatever the call.
    if not runtime.calls.policies.for_tenant(tenant.name).may_refer_to(target):
        raise TransferNotAllowed("the target is not one of this tenant's refer_targets")
    record = await runtime.calls.find(tenant.name, request.path_params["call_id"])
    if record.transport != "sip" or not record.live:
        raise InvalidRequest("only a live phone call can be transferred")
    await provider_named(record.spec.provider).refer(
        runtime.calls.control, record, normalise_uri(target)
    )
    return Response(status_code=200, headers=NO_STORE)


# -- Live ------------------------------------------------------------------------------------


async def create_live_session(request: Request) -> JSONResponse:
    """GPT-Live over WebRTC: `{session, transport: {type: webrtc, sdp}}`, brokered."""
    runtime = runtime_of(request)
    tenant = await authenticated_tenant(request, runtime)
    with MintAudit(runtime, tenant.name) as audit:
        settings = runtime.settings
        raw = await read_body(request, settings.max_offer_bytes, settings.body_timeout)
        body = parse_json_object(raw)
        session, transport = body.get("session"), body.get("transport")
        if set(body) - {"session", "transport"}:
            raise InvalidRequest("unknown parameter; expected 'session' and 'transport'")
        if not isinstance(session, dict):
            raise InvalidRequest("'session' must be an object")
        if not isinstance(transport, dict) or transport.get("type") != "webrtc":
            raise InvalidRequest("transport.type must be 'webrtc'")
        sdp = transport.get("sdp")
        if not isinstance(sdp, str):
            raise InvalidRequest("transport.sdp must be the SDP offer")
        asked = live_session(session, runtime.rules)
        endpoint = runtime.rules.default_endpoint
        audit.model, audit.voice, audit.endpoint = asked.model, asked.voice, endpoint
        offer = read_offer("application/sdp", sdp.encode())
        record, answer = await _tenant_call(runtime, audit, tenant.name, asked, offer.sdp)
        return JSONResponse(
            {
                "session": _live_resource(record, runtime),
                "transport": {"type": "webrtc", "sdp": answer},
            },
            headers=NO_STORE,
        )


def _live_resource(record: CallRecord, runtime: Runtime) -> dict[str, Any]:
    """OpenAI's `SessionResource`, with the gateway's call id as the session's id."""
    policy = runtime.calls.policies.for_tenant(record.tenant)
    upstream = live_upstream_session(record.spec, policy)
    return {
        "id": record.call_id,
        "model": record.model,
        "status": "active",
        "expires_at": record.deadline_ms // 1000,
        "audio": {"output": {"voice": record.voice}},
        **{k: upstream[k] for k in ("instructions", "client") if k in upstream},
    }


async def hang_up_live_session(request: Request) -> Response:
    runtime = runtime_of(request)
    tenant = await authenticated_tenant(request, runtime)
    record = await runtime.calls.find(tenant.name, request.path_params["session_id"])
    await runtime.calls.end(record, "caller_hangup")
    return Response(status_code=200, headers=NO_STORE)


_SESSION_BODY = {"requestBody": {"required": True, "content": {"application/json": {}}}}
_OFFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/sdp": {}, "multipart/form-data": {}},
    }
}

router.add_api_route(
    "/v1/realtime/client_secrets",
    create_client_secret,
    methods=["POST"],
    summary="OpenAI GA: mint a client secret (a gateway call token, ek_rtg_...)",
    responses=MINT_ERRORS,
    openapi_extra=_SESSION_BODY,
)
router.add_api_route(
    "/v1/realtime/sessions",
    create_beta_session,
    methods=["POST"],
    summary="OpenAI beta: create a session with a client secret (a gateway call token)",
    responses=MINT_ERRORS,
    openapi_extra=_SESSION_BODY,
)
router.add_api_route(
    CALLS_PATH,
    create_call,
    methods=["POST"],
    status_code=201,
    summary="OpenAI: create a WebRTC call (call token, or tenant credential with a session)",
    response_class=Response,
    responses={201: {"content": {"application/sdp": {}}}, **CALL_ERRORS},
    openapi_extra=_OFFER_BODY,
)
router.add_api_route(
    CALLS_PATH + "/{call_id}/hangup",
    hang_up_call,
    methods=["POST"],
    summary="OpenAI: hang up a call (tenant credential or the call's token)",
    response_class=Response,
    responses=ACTION_ERRORS,
)
router.add_api_route(
    CALLS_PATH + "/{call_id}/refer",
    refer_call,
    methods=["POST"],
    summary="OpenAI: transfer a phone call, only to the tenant's refer_targets",
    response_class=Response,
    responses=REFER_ERRORS,
    openapi_extra=_SESSION_BODY,
)
router.add_api_route(
    LIVE_PATH,
    create_live_session,
    methods=["POST"],
    summary="OpenAI Live: create a WebRTC session, brokered",
    responses=CALL_ERRORS,
    openapi_extra=_SESSION_BODY,
)
router.add_api_route(
    LIVE_PATH + "/{session_id}/hangup",
    hang_up_live_session,
    methods=["POST"],
    summary="OpenAI Live: hang up a session",
    response_class=Response,
    responses=ACTION_ERRORS,
)
