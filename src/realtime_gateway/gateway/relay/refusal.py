"""A refused upgrade: the error as the HTTP answer to it, in OpenAI's shape (`/v1`)."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from realtime_gateway.gateway.errors import GatewayError, error_body

PATH = "/v1/realtime"
POLICY_VIOLATION = 1008


async def refuse(websocket: WebSocket, error: GatewayError) -> None:
    body = error_body(error.error_code, error.message, error.status_code, PATH)
    response = JSONResponse(body, error.status_code, headers=error.headers)
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # a server without the denial extension: a close is all there is
        await websocket.close(POLICY_VIOLATION)
