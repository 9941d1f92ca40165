"""`GET /v1/realtime` as a WebSocket: `?model=M` (or `?intent=transcription`), a session the
gateway relays to the provider's Realtime WebSocket on the leash; `?call_id=` (and Live's
`GET /v1/live/sessions/{call_id}/attach`), the tenant's sideband of its own WebRTC call
(`sideband.py`).

Everything is decided before the upgrade is accepted, and a refusal is the HTTP answer to the
upgrade in OpenAI's error shape: 401 (credential), 400 (model, intent, voice), 429 (the cap,
the budget), 500 (the provider refused or failed), 503 (the call store is down).

The credential is the tenant's (`Authorization: Bearer <tenant key or JWT>`), or a call token
(`ek_rtg_...` from `/v1/realtime/client_secrets` or brokered `/realtime_session`) as that
header or as the browser's `openai-insecure-api-key.<token>` subprotocol; `realtime` is
echoed when offered. A tenant key is never taken as a subprotocol (that form is for pages).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass

import aiohttp
from fastapi import APIRouter
from starlette.websockets import WebSocket

from realtime_gateway.gateway.auth import bearer_token
from realtime_gateway.gateway.calls.record import CallRecord
from realtime_gateway.gateway.calls.service import Admission, Calls
from realtime_gateway.gateway.calls.tokens import token_tenant
from realtime_gateway.gateway.errors import (
    CallsUnavailable,
    GatewayError,
    InvalidRequest,
    ProviderError,
    ServerBusy,
    Unauthorized,
)
from realtime_gateway.gateway.providers.protocol import Provider
from realtime_gateway.gateway.providers.registry import provider_named
from realtime_gateway.gateway.relay.refusal import PATH, refuse
from realtime_gateway.gateway.relay.relay import RelaySession
from realtime_gateway.gateway.relay.session_policy import SessionRules, initial_update
from realtime_gateway.gateway.relay.sideband import tenant_sideband
from realtime_gateway.gateway.runtime import Runtime

log = logging.getLogger("realtime_gateway.gateway.relay")

router = APIRouter()

KEY_SUBPROTOCOL = "openai-insecure-api-key."
MODEL = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class Credential:
    tenant: str | None  # a tenant credential's tenant
    token: str | None  # or a call token


def runtime_of(websocket: WebSocket) -> Runtime:
    runtime: Runtime = websocket.app.state.runtime
    return runtime


async def realtime_websocket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    if "call_id" in websocket.query_params:
        await tenant_sideband(websocket, runtime, websocket.query_params["call_id"])
        return
    relays = runtime.relays
    try:
        with relays.socket_slot():
            try:
                session, first = await open_session(websocket, runtime)
            except GatewayError as error:
                await refuse(websocket, error)
                return
            except Exception as error:  # nothing may escape unanswered (no trace to the caller)
                log.error("relay: opening a session failed", exc_info=error)
                await refuse(websocket, GatewayError("the gateway failed unexpectedly"))
                return
            relays.add(session)
            try:
                await session.run(first)
            finally:
                relays.remove(session)
    except ServerBusy as busy:
        await refuse(websocket, busy)


async def live_attach(websocket: WebSocket) -> None:
    """`GET /v1/live/sessions/{call_id}/attach`: Live's sideband, the tenant's own call."""
    await tenant_sideband(websocket, runtime_of(websocket), websocket.path_params["call_id"])


router.add_api_websocket_route(PATH, realtime_websocket)
router.add_api_websocket_route("/v1/live/sessions/{call_id}/attach", live_attach)


def credential_of(websocket: WebSocket, runtime: Runtime) -> Credential:
    authorization = websocket.headers.get("authorization")
    if authorization is not None:
        token = bearer_token(authorization)
        if token_tenant(token) is not None:
            return Credential(None, token)
        return Credential(runtime.authenticator.authenticate(authorization).name, None)
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(KEY_SUBPROTOCOL):
            token = offered[len(KEY_SUBPROTOCOL) :]
            if token_tenant(token) is None:
                raise Unauthorized(
                    "the openai-insecure-api-key subprotocol takes a call token (ek_rtg_...) "
                    "from /v1/realtime/client_secrets; a tenant key goes in Authorization"
                )
            return Credential(None, token)
    raise Unauthorized("missing credential: Authorization: Bearer <key>")


def checked_model(model: str | None, runtime: Runtime) -> str:
    if model is None:
        raise InvalidRequest("model is required (or intent=transcription)")
    if not MODEL.fullmatch(model):
        raise InvalidRequest("model must be 1..64 characters of A-Z a-z 0-9 . _ -")
    allowed = runtime.rules.allowed_models
    if allowed and model not in allowed:
        raise InvalidRequest(f"model '{model}' is not allowed here")
    return model


async def open_session(websocket: WebSocket, runtime: Runtime) -> tuple[RelaySession, list[str]]:
    """Admit, open the provider's socket, record the session live, accept the client's."""
    credential = credential_of(websocket, runtime)
    query = websocket.query_params
    intent = query.get("intent")
    if intent not in (None, "transcription"):
        raise InvalidRequest("intent must be transcription, or absent")
    model = query.get("model")
    calls = runtime.calls
    if credential.token is not None:
        tenant = token_tenant(credential.token) or ""
        admission = await calls.admit(tenant, "websocket", token=credential.token)
        spec = admission.record.spec
        if model is not None and model != spec.model or intent is not None:
            await calls.abandon(admission)
            raise InvalidRequest(f"this call token is for model '{spec.model}'")
    else:
        tenant = credential.tenant or ""
        if intent is None:
            model = checked_model(model, runtime)
        spec = calls.spec_for(runtime.rules.default_endpoint, model or "transcription", "")
        if provider_named(spec.provider).session_url(spec, intent) is None:
            raise InvalidRequest(f"model '{spec.model}' has no WebSocket sessions")
        admission = await calls.admit(tenant, "websocket", spec=spec)
    provider = provider_named(spec.provider)
    try:
        upstream, first = await _open_upstream(runtime, provider, admission, intent)
    except BaseException:
        await calls.abandon(admission)
        raise
    try:
        provider_session_id = _session_id(first)
    except BaseException:
        await upstream.close()
        await calls.abandon(admission)
        raise
    try:
        record = await calls.go_live(admission, provider_session_id)  # undoes itself on failure
    except BaseException:
        await upstream.close()
        raise
    try:
        session = await _accept(websocket, runtime, upstream, admission, record, provider, intent)
    except BaseException:
        await upstream.close()
        with contextlib.suppress(CallsUnavailable):
            await calls.count_end(admission.store, record, "caller_hangup")
        raise
    return session, [first]


async def _open_upstream(
    runtime: Runtime, provider: Provider, admission: Admission, intent: str | None
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """The provider's socket and its first event (`session.created`)."""
    spec = admission.record.spec
    url = provider.session_url(spec, intent)
    if url is None:
        raise InvalidRequest(f"model '{spec.model}' has no WebSocket sessions")
    upstreams = runtime.relays.upstreams
    upstream = await upstreams.open(url, provider.auth_headers(upstreams.api_key), provider.label)
    try:
        async with asyncio.timeout(runtime.settings.provider_timeout):
            message = await upstream.receive()
    except TimeoutError:
        await upstream.close()
        raise ProviderError(f"{provider.label} did not open the session in time") from None
    if message.type is not aiohttp.WSMsgType.TEXT:
        await upstream.close()
        raise ProviderError(f"{provider.label} closed the session as it opened")
    return upstream, str(message.data)


def _session_id(first: str) -> str:
    try:
        event = json.loads(first)
    except ValueError:
        event = None
    if isinstance(event, dict) and event.get("type") == "session.created":
        session = event.get("session")
        session_id = session.get("id") if isinstance(session, dict) else None
        if isinstance(session_id, str) and session_id:
            return session_id
    if isinstance(event, dict) and event.get("type") == "error":
        raise ProviderError("the provider refused the session")
    raise ProviderError("the provider's first event was not session.created")


async def _accept(
    websocket: WebSocket,
    runtime: Runtime,
    upstream: aiohttp.ClientWebSocketResponse,
    admission: Admission,
    record: CallRecord,
    provider: Provider,
    intent: str | None,
) -> RelaySession:
    calls: Calls = runtime.calls
    policy = calls.policies.for_tenant(record.tenant)
    pins = initial_update(record.spec, policy, intent)
    if pins:
        await upstream.send_str(json.dumps(pins))
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    return RelaySession(
        client=websocket,
        upstream=upstream,
        record=record,
        store=admission.store,
        calls=calls,
        provider=provider,
        rules=SessionRules(
            model=record.spec.model,
            allowed_voices=runtime.rules.allowed_voices,
            policy=policy,
        ),
        limits=runtime.relays.limits,
    )
