"""The gateway's ASGI app: routes, the one error handler, the UI, and the lifespan that owns
the pooled HTTP client and the limiter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime_gateway import __version__
from realtime_gateway.gateway.auth import Authenticator
from realtime_gateway.gateway.calls.page import render_page
from realtime_gateway.gateway.calls.store import StoreUnavailable
from realtime_gateway.gateway.composition import build_services
from realtime_gateway.gateway.errors import (
    GatewayError,
    InvalidRequest,
    NotReady,
    documented,
    error_body,
    error_code_for_status,
)
from realtime_gateway.gateway.internal_errors import InternalErrorMiddleware
from realtime_gateway.gateway.metrics_access import require_metrics_token
from realtime_gateway.gateway.middleware import (
    HeaderLimitMiddleware,
    SecurityHeadersMiddleware,
    cors_middleware,
)
from realtime_gateway.gateway.observability.metrics import GatewayMetrics
from realtime_gateway.gateway.phone.routes import router as phone_router
from realtime_gateway.gateway.providers.call_http import CallTransport
from realtime_gateway.gateway.providers.http1 import Http1Transport
from realtime_gateway.gateway.providers.transport import Transport
from realtime_gateway.gateway.ratelimit import Limiter, build_limiter
from realtime_gateway.gateway.relay.routes import router as relay_router
from realtime_gateway.gateway.routes.calls import router as calls_router
from realtime_gateway.gateway.routes.hot import hot_routes, is_hot
from realtime_gateway.gateway.routes.session import router as sessions_router
from realtime_gateway.gateway.routes.usage import router as usage_router
from realtime_gateway.gateway.runtime import Runtime, RuntimeDep, build_rules
from realtime_gateway.gateway.settings import Settings
from realtime_gateway.gateway.v1.routes import router as v1_router

WEB_DIR = Path(__file__).parent / "web"


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    path: str = "",
) -> JSONResponse:
    return JSONResponse(error_body(code, message, status, path), status, headers=headers)


async def on_gateway_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    return error_response(
        error.status_code, error.error_code, error.message, error.headers, request.url.path
    )


async def on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = error_code_for_status(error.status_code)
    messages = {404: "no such route", 405: f"method {request.method} is not allowed here"}
    message = messages.get(error.status_code, str(error.detail))
    headers = dict(error.headers or {})
    return error_response(error.status_code, code, message, headers, request.url.path)


async def on_validation_error(request: Request, error: Exception) -> Response:
    return await on_gateway_error(request, InvalidRequest("the request is not valid"))


class GatewayApp(FastAPI):
    """FastAPI, with the two hot routes (`routes/hot.py`) answered before its middleware
    stack and router; their FastAPI twins stay for `/openapi.json` and `/docs`."""

    def __init__(self, hot: ASGIApp, page_policy: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot = hot
        # Every answer, hot or not, leaves through the security headers.
        self._secured = SecurityHeadersMiddleware(self._dispatch, page_policy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._secured(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_hot(scope):
            scope["app"] = self  # as Starlette sets it: endpoints find the runtime through it
            await self.hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    transport: Transport | None = None,
    limiter: Limiter | None = None,
    call_transport: CallTransport | None = None,
) -> FastAPI:
    """The gateway. `transport` (the provider HTTP client), `limiter` and `call_transport`
    (brokered calls' provider client) are seams for tests and benchmarks; when given, their
    owner closes them."""
    authenticator = Authenticator(settings)
    rules = build_rules(settings)
    metrics = GatewayMetrics(settings, authenticator.key_tenants)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app_limiter = limiter or build_limiter(settings)
        services = build_services(
            settings,
            metrics,
            call_transport=call_transport,
            limiter=app_limiter,
            authenticator=authenticator,
        )
        runtime = Runtime(
            settings=settings,
            authenticator=authenticator,
            rules=rules,
            metrics=metrics,
            limiter=app_limiter,
            transport=transport or Http1Transport(),
            calls=services.calls,
            leash_metrics=services.leash_metrics,
            relays=services.relays,
            phone=services.phone,
            tenants=services.directory,
            usage_webhooks=services.usage_webhooks,
            webhooks=services.webhooks,
        )
        app.state.runtime = runtime
        await services.load_tenants()
        services.start()
        try:
            yield
        finally:
            await services.aclose()
            if limiter is None:
                await runtime.limiter.aclose()
            if transport is None:
                await runtime.transport.aclose()

    app = GatewayApp(
        hot_routes(settings),
        ui_headers(settings)["Content-Security-Policy"],
        title="Realtime Gateway",
        version=__version__,
        description="Mints short-lived realtime voice sessions; never hands out the provider key.",
        lifespan=lifespan,
        # Swagger UI loads its JavaScript from a public CDN, on the origin where the UI keeps
        # the tenant key: off unless the operator asks for it (GATEWAY_DOCS).
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        # A slash redirect is built from the Host header (`Host: evil.example` -> 307 there).
        redirect_slashes=False,
    )
    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    if settings.cors_origins:
        app.add_middleware(cors_middleware, origins=settings.cors_origins)
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(InternalErrorMiddleware)  # outermost: nothing escapes unanswered
    app.include_router(sessions_router)
    app.include_router(calls_router)
    app.include_router(usage_router)
    app.include_router(v1_router)
    app.include_router(relay_router)
    app.include_router(phone_router)
    add_operational_routes(app, settings)
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
    return app


def ui_headers(settings: Settings) -> dict[str, str]:
    """The page may talk to the gateway and to the providers it can mint for, nothing else."""
    origins = sorted(
        {
            f"{parts.scheme}://{parts.netloc}"
            for parts in map(
                urlsplit,
                [
                    settings.provider_endpoint,
                    *settings.allowed_endpoints,
                    *([settings.public_url] if settings.public_url else []),
                ],
            )
        }
    )
    policy = "; ".join(
        [
            "default-src 'self'",
            "connect-src 'self' " + " ".join(origins),
            "media-src 'self' blob: mediastream:",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",  # the settings form is never submitted anywhere
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def add_operational_routes(app: FastAPI, settings: Settings) -> None:
    headers = ui_headers(settings)
    page = render_page(WEB_DIR / "index.html", settings)

    @app.get("/", include_in_schema=False)
    async def operator_ui() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get("/healthz", summary="Liveness: the process serves")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Readiness: provider key set and Redis (when configured) answering",
        responses={503: documented("not_ready: names what is missing")},
    )
    async def readyz(runtime: RuntimeDep) -> Response:
        problems: list[str] = []
        if runtime.settings.openai_api_key is None:
            problems.append("no provider key (OPENAI_API_KEY)")
        limiter_problem = await runtime.limiter.check_ready()
        if limiter_problem:
            problems.append(
                f"{limiter_problem}; limiter degraded "
                f"(failure mode {runtime.settings.limiter_failure_mode})"
            )
        if problems:
            return error_response(NotReady.status_code, NotReady.error_code, "; ".join(problems))
        body: dict[str, Any] = {
            "status": "ready",
            "limiter": "redis" if runtime.settings.redis_configured() else "memory",
        }
        return JSONResponse(body)

    @app.get(
        "/metrics",
        summary="Prometheus metrics (Authorization: Bearer <GATEWAY_METRICS_TOKEN>)",
        response_class=Response,
        responses={
            401: documented("unauthorized: missing or wrong metrics token"),
            404: documented("not_found: no GATEWAY_METRICS_TOKEN is configured"),
        },
    )
    async def metrics(request: Request, runtime: RuntimeDep) -> Response:
        require_metrics_token(runtime.settings, request.headers.get("authorization"))
        calls = runtime.calls
        with contextlib.suppress(StoreUnavailable):  # the other figures are still worth a scrape
            await runtime.leash_metrics.refresh_active(
                calls.store, await calls.fleet.indexed_tenants()
            )
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")
