"""The admin listener's ASGI app, and the split that serves it beside the tenant app from one
uvicorn server: a connection accepted on the admin socket (its local port, never a header) goes
to the admin app, any other to the tenant app. So the admin routes do not exist on the tenant
listener, and the tenant routes do not exist on the admin one."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime_gateway.gateway.admin.routes import router
from realtime_gateway.gateway.app import on_gateway_error, on_http_error, on_validation_error
from realtime_gateway.gateway.errors import GatewayError
from realtime_gateway.gateway.middleware import SecurityHeadersMiddleware

CONSOLE_DIR = Path(__file__).parent / "console"
CONSOLE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
CONSOLE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONSOLE_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class AdminApp(FastAPI):
    def __init__(self, gateway: FastAPI) -> None:
        super().__init__(
            title="Realtime Gateway admin",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
            redirect_slashes=False,
        )
        self.state.gateway = gateway  # its runtime, built in its lifespan, is what we act on
        self._secured = SecurityHeadersMiddleware(super().__call__, CONSOLE_POLICY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._secured(scope, receive, send)


def create_admin_app(gateway: FastAPI) -> FastAPI:
    app = AdminApp(gateway)
    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.include_router(router)
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def console() -> HTMLResponse:
        return HTMLResponse(page, headers=CONSOLE_HEADERS)

    app.mount("/console", StaticFiles(directory=CONSOLE_DIR), name="console")
    return app


class ListenerSplit:
    """One ASGI app over two listeners: the admin socket's connections to `admin`, the rest
    (and the lifespan) to `tenant`. `admin_port` is the admin socket's bound port."""

    def __init__(self, tenant: ASGIApp, admin: ASGIApp, admin_port: int) -> None:
        self.tenant = tenant
        self.admin = admin
        self.admin_port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            server = scope.get("server")
            if server is not None and server[1] == self.admin_port:
                await self.admin(scope, receive, send)
                return
        await self.tenant(scope, receive, send)
