"""The hot routes, `POST /realtime_session`, `POST /realtime_calls` and their `/v1` twins
(`client_secrets`, `calls`), served ahead of FastAPI: `GatewayApp` hands them straight to
`HotRoutes`, past FastAPI's middleware stack (its server-error, exception, exit-stack,
body-limit and telemetry layers), its router and its per-request dependency resolution.
bench/ measured that stack at a fifth of a mint's CPU.

What those layers did for these routes is done here, in the same code the rest of the app
uses: the header limit (`HeaderLimitMiddleware`), CORS (Starlette's `CORSMiddleware`, set up
like the app's), the last-line 500 (`InternalErrorMiddleware`), and a `GatewayError` answered
with its documented body, as the app's exception handler answers it.

The FastAPI routes with the same path and method stay: they describe both routes in
`/openapi.json` and `/docs`, and serve, alike, any request that reaches the router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime_gateway.gateway.errors import GatewayError, send_error
from realtime_gateway.gateway.internal_errors import InternalErrorMiddleware
from realtime_gateway.gateway.middleware import HeaderLimitMiddleware, cors_middleware
from realtime_gateway.gateway.routes.calls import create_call
from realtime_gateway.gateway.routes.session import create_session
from realtime_gateway.gateway.settings import Settings
from realtime_gateway.gateway.v1 import routes as v1

Endpoint = Callable[[Request], Awaitable[Response]]

HOT_ENDPOINTS: dict[str, Endpoint] = {
    "/realtime_session": create_session,
    "/realtime_calls": create_call,
    "/v1/realtime/client_secrets": v1.create_client_secret,
    "/v1/realtime/calls": v1.create_call,
}


def is_hot(scope: Scope) -> bool:
    """A request the hot routes serve: `POST` to one of their paths, exactly."""
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in HOT_ENDPOINTS


class HotRoutes:
    """Calls the path's endpoint and answers its errors with the documented body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = HOT_ENDPOINTS[scope["path"]]
        try:
            response = await endpoint(Request(scope, receive))
        except GatewayError as error:
            await send_error(send, error, path=scope["path"])
            return
        await response(scope, receive, send)


def hot_routes(settings: Settings) -> ASGIApp:
    """The hot routes wrapped in the layers they keep: the last-line 500 outermost, as in the
    app, then the header limit, then CORS when origins are configured."""
    app: ASGIApp = HotRoutes()
    if settings.cors_origins:
        app = cors_middleware(app, settings.cors_origins)
    return InternalErrorMiddleware(HeaderLimitMiddleware(app, max_bytes=settings.max_header_bytes))
