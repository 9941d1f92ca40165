"""`GET /v1/realtime?call_id=<gateway call id>` and `GET /v1/live/sessions/<gateway call
id>/attach`: the tenant's own sideband of its live WebRTC (or phone) call, Realtime or Live,
with the tenant credential. Server events come from the provider's sideband (`?call_id=`, or
Live's attach) as they are; client events (`session.update` held to the pins,
`response.create`, `conversation.item.create`, ...) go to it. Usage is not counted here: the
watcher that holds the call counts it once. Closing this socket does not end the call; the
call's end closes it.
"""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from realtime_gateway.gateway.errors import GatewayError, NotFound, ServerBusy, Unauthorized
from realtime_gateway.gateway.providers.registry import provider_named
from realtime_gateway.gateway.relay.refusal import refuse
from realtime_gateway.gateway.relay.relay import RelaySession
from realtime_gateway.gateway.relay.session_policy import SessionRules
from realtime_gateway.gateway.runtime import Runtime

log = logging.getLogger("realtime_gateway.gateway.relay")


async def tenant_sideband(websocket: WebSocket, runtime: Runtime, call_id: str) -> None:
    try:
        with runtime.relays.socket_slot():
            try:
                session = await open_sideband(websocket, runtime, call_id)
            except GatewayError as error:
                await refuse(websocket, error)
                return
            except Exception as error:
                log.error("relay: opening a sideband failed", exc_info=error)
                await refuse(websocket, GatewayError("the gateway failed unexpectedly"))
                return
            await session.run([])
    except ServerBusy as busy:
        await refuse(websocket, busy)


async def open_sideband(websocket: WebSocket, runtime: Runtime, call_id: str) -> RelaySession:
    authorization = websocket.headers.get("authorization")
    if authorization is None:
        raise Unauthorized("missing credential: Authorization: Bearer <tenant key>")
    tenant = runtime.authenticator.authenticate(authorization).name
    calls = runtime.calls
    record = await calls.find(tenant, call_id)
    if not record.live or record.transport == "websocket" or not record.provider_call_id:
        raise NotFound("no such live call")
    provider = provider_named(record.spec.provider)
    upstreams = runtime.relays.upstreams
    upstream = await upstreams.open(
        provider.sideband_url(record), provider.auth_headers(upstreams.api_key), provider.label
    )
    try:
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    except BaseException:
        await upstream.close()
        raise
    return RelaySession(
        client=websocket,
        upstream=upstream,
        record=record,
        store=await calls.store_of(record),
        calls=calls,
        provider=provider,
        rules=SessionRules(
            model=record.spec.model,
            allowed_voices=runtime.rules.allowed_voices,
            policy=calls.policies.for_tenant(tenant),
        ),
        limits=runtime.relays.limits,
        owns_call=False,
    )
