"""The stub's ASGI app: OpenAI-shaped minting (GA and beta) and SDP endpoints, and `run_stub`."""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from realtime_gateway.media import ice
from realtime_gateway.stub import minting
from realtime_gateway.stub.faults import openai_error
from realtime_gateway.stub.forms import OfferError, parse_offer
from realtime_gateway.stub.peer import CallRecord, StubCall
from realtime_gateway.stub.secrets import new_id
from realtime_gateway.stub.state import StubConfig, StubState
from realtime_gateway.wire import bearer_credential, ga_session_voice

__all__ = ["CallRecord", "StubConfig", "StubState", "create_stub_app", "run_stub"]

logger = logging.getLogger(__name__)

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
BAD_KEY = "Incorrect API key provided."


def _error(status: int, message: str | None = None, **kwargs: Any) -> JSONResponse:
    return JSONResponse(openai_error(status, message, **kwargs), status_code=status)


def _bearer(request: Request) -> str | None:
    return bearer_credential(request.headers.get("authorization"))


def _is_provider_key(state: StubState, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), state.config.api_key.encode())


async def _minting_gate(request: Request, state: StubState) -> JSONResponse | dict[str, Any]:
    """Faults, then the provider key, then the JSON body: what every minting call passes."""
    state.mint_requests += 1
    fault = state.faults.current
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is not None:
        return _error(fault.status)
    token = _bearer(request)
    if token is None:
        return _error(401, NO_KEY, code="missing_api_key")
    if not _is_provider_key(state, token):
        return _error(401, BAD_KEY, code="invalid_api_key")
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


async def _start_call(request: Request, model_override: str | None, location: bool) -> Response:
    state: StubState = request.app.state.stub
    token = _bearer(request)
    if token is None:
        return _error(401, NO_KEY, code="missing_api_key")
    if _is_provider_key(state, token):
        model, voice = minting.DEFAULT_MODEL, minting.DEFAULT_VOICE
        session: dict[str, Any] = {}
    else:
        minted, why = state.secrets.lookup(token)
        if minted is None:
            message = "Ephemeral key has expired." if why == "expired" else BAD_KEY
            return _error(401, message, code="invalid_api_key")
        model, voice, session = minted.model, minted.voice, dict(minted.session)
    try:
        offer = parse_offer(request.headers.get("content-type", ""), await request.body())
    except OfferError as error:
        return _error(400, str(error), param="sdp")
    model = _str_field(offer.session.get("model"), model_override or model)
    voice = ga_session_voice(offer.session) or voice
    call_id = new_id("rtc_")
    session = minting.ga_session(
        session.get("id", new_id("sess_")),
        model,
        voice,
        int(state.now()) + minting.SESSION_SECONDS,
    )
    record = CallRecord(call_id=call_id, model=model, voice=voice)
    config = state.config
    call = StubCall(
        record,
        session,
        max_seconds=config.max_call_seconds,
        use_espeak=config.use_espeak,
        reply_on_speech=config.reply_on_speech,
        on_end=state.forget,
    )
    try:
        answer = await asyncio.wait_for(call.answer(offer.sdp), 15.0)
    except (TimeoutError, ValueError) as error:
        await call.close("bad_offer")
        return _error(
            400, f"The SDP offer could not be answered: {type(error).__name__}.", param="sdp"
        )
    state.calls.append(record)
    state.active[call_id] = call
    headers = {"Location": f"/v1/realtime/calls/{call_id}"} if location else {}
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


async def calls_ga(request: Request) -> Response:
    return await _start_call(request, None, location=True)


async def calls_beta(request: Request) -> Response:
    return await _start_call(request, request.query_params.get("model") or None, location=False)


async def hangup(request: Request) -> Response:
    state: StubState = request.app.state.stub
    if not _is_provider_key(state, _bearer(request)):
        return _error(401, BAD_KEY, code="invalid_api_key")
    call = state.active.get(request.path_params["call_id"])
    if call is None:
        return _error(404, "Call not found.")
    await call.close("hangup")
    return Response(status_code=200)


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
    app.add_api_route("/v1/realtime/calls", calls_ga, methods=["POST"])
    app.add_api_route("/v1/realtime", calls_beta, methods=["POST"])
    app.add_api_route("/v1/realtime/calls/{call_id}/hangup", hangup, methods=["POST"])
    app.add_api_route("/healthz", lambda: {"status": "ok"}, methods=["GET"])

    @app.exception_handler(StarletteHTTPException)
    async def openai_shaped(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Location"],
    )
    return app


def run_stub(args: argparse.Namespace) -> int:
    """`realtime-gateway stub`: serve until Ctrl-C or SIGTERM, then close every call."""
    import uvicorn

    from realtime_gateway.stub.serving import QuietServer, serve_together

    api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        api_key = "sk-stub-" + secrets.token_urlsafe(18)
        # A generated key is printed once, to the terminal that asked for it, never logged.
        print(f"stub provider key: {api_key}", flush=True)
    app = create_stub_app(StubConfig(api_key=api_key, loopback_ice=bool(args.loopback_ice)))
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", ws="none", lifespan="on"
    )

    def announce() -> None:
        print(f"stub listening on http://{args.host}:{args.port}/v1", flush=True)

    return asyncio.run(serve_together([QuietServer(config)], on_started=announce))
