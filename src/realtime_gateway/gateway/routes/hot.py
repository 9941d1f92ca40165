"""The two hot routes, `POST /realtime_session` and `POST /realtime_calls`, as plain Starlette
routes: the same endpoints as their FastAPI twins, without FastAPI's per-request dependency
resolution and response handling (about 60 µs a request, bench/ measured).

The app puts these ahead of the FastAPI routers, so they answer; the FastAPI routes with the
same path and method stay for `/openapi.json` and `/docs` (and would serve, alike, if these were
removed). Errors raised here reach the app's exception handlers like any route's.
"""

from __future__ import annotations

from starlette.routing import Route

from realtime_gateway.gateway.routes.calls import create_call
from realtime_gateway.gateway.routes.session import create_session


def hot_routes() -> list[Route]:
    return [
        Route("/realtime_session", create_session, methods=["POST"]),
        Route("/realtime_calls", create_call, methods=["POST"]),
    ]
