"""The gateway's own ASGI layers: the header limit, and CORS as the gateway configures it.

Under `serve` the connection guard (`connection_guard.py`) already cuts headers off while they
arrive; `HeaderLimitMiddleware` is the second line for any other server the app runs under
(tests, embedding), which may only see the headers once they are complete.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realtime_gateway.gateway.errors import HeadersTooLarge, error_body, send_error

CORS_METHODS = ["POST", "GET", "DELETE"]
# X-OpenAI-Agents-SDK: OpenAI's browser SDK posts its offer to webrtc_url with it.
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "X-OpenAI-Agents-SDK"]
CORS_EXPOSED_HEADERS = ["RateLimit", "RateLimit-Policy", "Retry-After", "Location"]


class GatewayCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered by the documented error body
    (Starlette answers a plain-text "Disallowed CORS origin")."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-type", "content-length")
        }
        message = f"CORS preflight refused: {refused} not allowed"
        return JSONResponse(error_body("invalid_request", message), 400, headers=headers)


def cors_middleware(app: ASGIApp, origins: list[str]) -> CORSMiddleware:
    """CORS for the configured origins: the app's routes and the hot routes get the same."""
    return GatewayCORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
    )


class HeaderLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                await self._refuse(send, scope["path"])
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, path: str) -> None:
        error = HeadersTooLarge(f"request headers are larger than {self.max_bytes} bytes")
        await send_error(send, error, close=True, path=path)


# What every answer that is not the page carries: nothing in it may run, frame or be sniffed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` and a Content-Security-Policy on every answer: the
    page's policy on the page and its assets (`/`, `/web/...`), a policy that allows nothing on
    the rest (JSON, SDP, errors). A header a route set itself is kept."""

    def __init__(self, app: ASGIApp, page_policy: str) -> None:
        self.app = app
        self._page = [(b"content-security-policy", page_policy.encode())]
        self._api = [(b"content-security-policy", API_POLICY.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = self._page if path == "/" or path.startswith("/web/") else self._api

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"content-security-policy" not in names:
                    headers += extra
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)
