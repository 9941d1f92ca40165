"""The last line: any exception no handler took is answered with the documented 500
`internal_error` body and logged once, as one JSON record carrying its trace.

Starlette's own catch-all answers too, but then re-raises, so the trace would reach only
uvicorn's plain-text log. This middleware answers and does not re-raise.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realtime_gateway.gateway.errors import GatewayError, send_error

log = logging.getLogger("realtime_gateway.gateway.app")


class InternalErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            log.error(
                "unexpected error",
                exc_info=error,
                extra={"path": scope.get("path"), "response_started": started},
            )
            if not started:  # once a response began, the connection is all that is left
                await send_error(
                    send,
                    GatewayError("the gateway failed unexpectedly"),
                    path=scope.get("path", ""),
                )
