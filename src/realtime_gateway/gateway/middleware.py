"""Refuses requests whose headers are larger than the limit, before any route runs.

Under `serve` the connection guard (`connection_guard.py`) already cuts headers off while they
arrive; this is the second line for any other server the app runs under (tests, embedding),
which may only see the headers once they are complete.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from realtime_gateway.gateway.errors import HeadersTooLarge, send_error


class HeaderLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                await self._refuse(send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        error = HeadersTooLarge(f"request headers are larger than {self.max_bytes} bytes")
        await send_error(send, error, close=True)
