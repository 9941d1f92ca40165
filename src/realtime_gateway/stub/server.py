"""The stub's ASGI app: OpenAI-shaped minting (GA and beta), SDP endpoints, the Realtime
WebSocket, and `run_stub`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from realtime_gateway.media import ice
from realtime_gateway.stub import live_routes, minting, realtime_calls, realtime_ws, sip_routes
from realtime_gateway.stub.http import error_response, provider_key_refusal
from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.state import StubConfig, StubState
from realtime_gateway.webhook_signing import WebhookSecret, WebhookSecretError
from realtime_gateway.wire import ga_session_voice

__all__ = ["CallRecord", "StubConfig", "StubState", "create_stub_app", "run_stub"]

logger = logging.getLogger(__name__)

# What browsers may send cross-origin: the official SDKs add their own headers to the SDP POST.
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-OpenAI-Agents-SDK",
    "OpenAI-Beta",
    "OpenAI-Organization",
    "OpenAI-Project",
)


def _error(status: int, message: str | None = None, **kwargs: Any) -> JSONResponse:
    return error_response(status, message, **kwargs)


async def _minting_gate(request: Request, state: StubState) -> JSONResponse | dict[str, Any]:
    """Faults, then the provider key, then the JSON body: what every minting call passes."""
    state.mint_requests += 1
    fault = state.faults.current
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is not None:
        return _error(fault.status)
    refusal = provider_key_refusal(request, state)
    if refusal is not None:
        return refusal
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.")
    return body


def _str_field(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


async def mint_ga(request: Request) -> Response:
    state: StubState = request.app.state.stub
    body = await _minting_gate(request, state)
    if isinstance(body, JSONResponse):
        return body
    session = body.get("session") or {}
    if not isinstance(session, dict) or session.get("type", "realtime") != "realtime":
        return _error(
            400, "Only realtime sessions are supported by the stub.", param="session.type"
        )
    expires_after = body.get("expires_after") or {}
    ttl = (
        expires_after.get("seconds", minting.GA_DEFAULT_TTL)
        if isinstance(expires_after, dict)
        else None
    )
    if not isinstance(ttl, int) or not minting.GA_MIN_TTL <= ttl <= minting.GA_MAX_TTL:
        return _error(
            400,
            f"Invalid 'expires_after.seconds': must be between {minting.GA_MIN_TTL} "
            f"and {minting.GA_MAX_TTL}.",
            param="expires_after.seconds",
        )
    if expires_after.get("anchor", "created_at") != "created_at":
        return _error(400, "Invalid 'expires_after.anchor'.", param="expires_after.anchor")
    model = _str_field(session.get("model"), minting.DEFAULT_MODEL)
    voice = ga_session_voice(session) or minting.DEFAULT_VOICE
    session_id = new_id("sess_")
    shaped = minting.ga_session(
        session_id, model, voice, int(state.now()) + minting.SESSION_SECONDS
    )
    if state.faults.current.malformed:
        return JSONResponse({"session": shaped})
    minted = state.secrets.mint(
        ttl_seconds=ttl, model=model, voice=voice, session=shaped, session_id=session_id
    )
    state.mint_count += 1
    return JSONResponse(
        {"value": minted.value, "expires_at": int(minted.expires_at), "session": shaped}
    )


async def mint_beta(request: Request) -> Response:
    state: StubState = request.app.state.stub
    body = await _minting_gate(request, state)
    if isinstance(body, JSONResponse):
        return body
    model = _str_field(body.get("model"), minting.DEFAULT_MODEL)
    voice = _str_field(body.get("voice"), minting.DEFAULT_VOICE)
    session_id = new_id("sess_")
    now = int(state.now())
    minted = state.secrets.mint(
        ttl_seconds=minting.BETA_SECRET_TTL,
        model=model,
        voice=voice,
        session=minting.ga_session(session_id, model, voice, now + minting.SESSION_SECONDS),
        session_id=session_id,
    )
    shaped = minting.beta_session(
        session_id,
        model,
        voice,
        now + minting.SESSION_SECONDS,
        minted.value,
        int(minted.expires_at),
    )
    if state.faults.current.malformed:
        shaped.pop("client_secret")
        return JSONResponse(shaped)
    state.mint_count += 1
    return JSONResponse(shaped)


async def list_calls(request: Request) -> Response:
    """Every call this stub has seen (provider key): live ones and why each ended one ended; a
    phone call's record has its `sip` details (numbers, webhook deliveries, outcome)."""
    state: StubState = request.app.state.stub
    refusal = provider_key_refusal(request, state)
    if refusal is not None:
        return refusal
    return JSONResponse({"calls": [record.as_json() for record in state.calls]})


def create_stub_app(config: StubConfig) -> FastAPI:
    """The offline provider; `app.state.stub` is its `StubState`."""
    if config.loopback_ice:
        ice.use_loopback_only()
    state = StubState(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.close_all()

    app = FastAPI(
        title="Realtime Gateway offline provider stub",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.stub = state
    app.add_api_route("/v1/realtime/client_secrets", mint_ga, methods=["POST"])
    app.add_api_route("/v1/realtime/sessions", mint_beta, methods=["POST"])
    app.add_api_route("/v1/realtime/calls", realtime_calls.create_call, methods=["POST"])
    app.add_api_route("/v1/realtime", realtime_calls.create_call_beta, methods=["POST"])
    app.add_api_route(
        "/v1/realtime/calls/{call_id}/hangup", realtime_calls.hangup, methods=["POST"]
    )
    # A call's sideband (`?call_id=`) or a Realtime WebSocket session (`?model=`).
    app.add_api_websocket_route("/v1/realtime", realtime_ws.realtime_websocket)
    live_routes.add_live_routes(app)
    sip_routes.add_sip_routes(app)
    app.add_api_route("/_stub/calls", list_calls, methods=["GET"])
    app.add_api_route("/healthz", lambda: {"status": "ok"}, methods=["GET"])

    @app.exception_handler(StarletteHTTPException)
    async def openai_shaped(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=list(CORS_HEADERS),
        expose_headers=["Location"],
    )
    return app


def _webhook_settings(args: argparse.Namespace) -> tuple[str | None, str | None] | None:
    """The phone calls' webhook URL and secret from the options or the environment; None after
    one line on stderr when they are unusable."""
    url = getattr(args, "webhook_url", None) or os.environ.get("STUB_WEBHOOK_URL") or None
    secret = getattr(args, "webhook_secret", None) or os.environ.get("STUB_WEBHOOK_SECRET")
    if url is None:
        return None, secret
    if not url.startswith(("http://", "https://")):
        print("stub: the webhook URL must be an absolute http(s) URL", file=sys.stderr)
        return None
    if not secret:
        _, secret = WebhookSecret.generate()
        # Printed once, to the terminal that asked for it (the receiver must be given it).
        print(f"stub webhook secret: {secret}", flush=True)
    try:
        WebhookSecret(secret)
    except WebhookSecretError as error:
        print(f"stub: {error.reason}", file=sys.stderr)
        return None
    return url, secret


def run_stub(args: argparse.Namespace) -> int:
    """`realtime-gateway stub`: serve until Ctrl-C or SIGTERM, then close every call."""
    import uvicorn

    from realtime_gateway.stub.serving import QuietServer, serve_together

    api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        api_key = "sk-stub-" + secrets.token_urlsafe(18)
        # A generated key is printed once, to the terminal that asked for it, never logged.
        print(f"stub provider key: {api_key}", flush=True)
    webhooks = _webhook_settings(args)
    if webhooks is None:
        return 2
    app = create_stub_app(
        StubConfig(
            api_key=api_key,
            loopback_ice=bool(args.loopback_ice),
            greet=bool(getattr(args, "greet", False)),
            webhook_url=webhooks[0],
            webhook_secret=webhooks[1],
            sip_ring_seconds=float(getattr(args, "sip_ring_seconds", None) or 30.0),
        )
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
    )

    def announce() -> None:
        print(f"stub listening on http://{args.host}:{args.port}/v1", flush=True)

    return asyncio.run(serve_together([QuietServer(config)], on_started=announce))
