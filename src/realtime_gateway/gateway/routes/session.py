"""`POST /realtime_session`: authenticate, validate, rate-limit, mint. In that order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from starlette.exceptions import HTTPException  # FastAPI's subclasses it
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from realtime_gateway.gateway.addresses import public_base
from realtime_gateway.gateway.auth import Tenant
from realtime_gateway.gateway.body import (
    SessionRequest,
    SessionRequestSchema,
    parse_session_request,
)
from realtime_gateway.gateway.errors import (
    ClientClosedRequest,
    GatewayError,
    LimiterUnavailable,
    PayloadTooLarge,
    ProviderUnavailable,
    RateLimited,
    RequestTimeout,
    documented,
    error_code_for_status,
)
from realtime_gateway.gateway.observability.audit import SessionRecord, record_session
from realtime_gateway.gateway.providers.base import MintedSession, MintRequest
from realtime_gateway.gateway.providers.registry import provider_for
from realtime_gateway.gateway.ratelimit import Decision
from realtime_gateway.gateway.runtime import Runtime, authenticated_tenant, runtime_of

# Documentation (and a correct fallback): `POST /realtime_session` is served by `routes/hot.py`,
# which the app calls before its middleware stack and this router.
router = APIRouter()

CALLS_PATH = "/realtime_calls"

# nginx's status for "the client closed the request": audited, never sent.
CLIENT_CLOSED_REQUEST = 499

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented("invalid_request: the body is not a valid session request"),
    401: documented("unauthorized: missing, unknown, revoked or expired credential"),
    404: documented("not_found: no such route"),
    405: documented("method_not_allowed: wrong method for the route"),
    408: documented("request_timeout: the body did not arrive in time"),
    413: documented("payload_too_large: the body is over the limit"),
    429: documented("rate_limited: the tenant's session-creation rate is spent"),
    500: documented(
        "provider_error: the provider refused, failed or did not answer; "
        "internal_error: the gateway failed unexpectedly"
    ),
    503: documented("limiter_unavailable: Redis down with failure mode deny"),
}


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, at most `limit` bytes, arriving within `timeout` seconds (no slow drip)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as error:
        raise RequestTimeout(f"body did not arrive within {timeout:g} s") from error
    except ClientDisconnect as error:  # any client can do this: not the gateway failing
        raise ClientClosedRequest("the caller went away before its body arrived") from error
    return b"".join(chunks)


@router.post(
    "/realtime_session",
    summary="Mint a short-lived realtime session for the calling tenant",
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SessionRequestSchema.model_json_schema()}},
        }
    },
)
async def create_session(request: Request) -> JSONResponse:
    """A plain Starlette endpoint: no FastAPI dependency resolution on the hot path."""
    runtime = runtime_of(request)
    tenant = await authenticated_tenant(request, runtime)
    return await mint_for_tenant(request, tenant, runtime)


async def mint_for_tenant(request: Request, tenant: Tenant, runtime: Runtime) -> JSONResponse:
    """Body, limiter, mint (direct or brokered), in that order; every outcome audited."""
    with MintAudit(runtime, tenant.name) as audit:
        raw = await read_body(
            request, runtime.settings.max_body_bytes, runtime.settings.body_timeout
        )
        session_request = parse_session_request(raw, runtime.rules)
        audit.model, audit.voice = session_request.model, session_request.voice
        audit.endpoint = session_request.endpoint
        decision = await spend_session_quota(runtime, tenant.name)
        calls = runtime.calls
        if (
            calls.mode_for(tenant.name, session_request.model, session_request.endpoint)
            == "brokered"
        ):
            spec = calls.spec_for(
                session_request.endpoint, session_request.model, session_request.voice
            )
            webrtc_url = public_base(runtime.settings.public_url, request.scope) + CALLS_PATH
            session = await calls.mint_token(tenant.name, spec, webrtc_url)
        else:
            try:
                session = await mint(runtime, session_request)
            except ProviderUnavailable:
                # The provider failed, not the tenant: it got no session, so it spent nothing.
                await runtime.limiter.refund(tenant.name, decision)
                raise
        audit.session_id = session.id
        return JSONResponse(
            session.to_response(),
            headers={"Cache-Control": "no-store", **decision.headers()},
        )


class MintAudit:
    """One audit line and the session metrics for a mint, whatever its outcome: the fields
    are filled in as the request is understood; the outcome is read from how it ended."""

    def __init__(self, runtime: Runtime, tenant: str) -> None:
        self.runtime = runtime
        self.tenant = tenant
        self.model: str | None = None
        self.voice: str | None = None
        self.endpoint: str | None = None
        self.session_id: str | None = None
        self.started = time.perf_counter()

    def __enter__(self) -> MintAudit:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        outcome, status = "created", 200
        if isinstance(error, GatewayError):
            outcome, status = error.error_code, error.status_code
            if isinstance(error, LimiterUnavailable):
                self.runtime.metrics.limiter_failures.labels("deny").inc()
        elif isinstance(error, HTTPException):
            outcome, status = error_code_for_status(error.status_code), error.status_code
        elif isinstance(error, asyncio.CancelledError):
            # The request was cancelled (the caller or the server went away): no answer is sent.
            outcome, status = "cancelled", CLIENT_CLOSED_REQUEST
        elif error is not None:
            outcome, status = GatewayError.error_code, GatewayError.status_code
        record_session(
            self.runtime.metrics,
            SessionRecord(
                tenant=self.tenant,
                model=self.model,
                voice=self.voice,
                endpoint=self.endpoint,
                session_id=self.session_id,
                outcome=outcome,
                status=status,
                elapsed=time.perf_counter() - self.started,
            ),
        )


async def spend_session_quota(runtime: Runtime, tenant: str) -> Decision:
    """One session of the tenant's creation rate, or `RateLimited`: every route that makes a
    session or a call with a tenant credential spends from the same quota."""
    decision = await runtime.limiter.hit(tenant)
    record_decision(runtime, decision)
    if not decision.allowed:
        raise RateLimited(
            f"tenant '{tenant}' may create {decision.limit} sessions per "
            f"{decision.window} s; try again in {decision.retry_after} s",
            headers=decision.headers(),
        )
    return decision


def record_decision(runtime: Runtime, decision: Decision) -> None:
    runtime.metrics.limiter_decisions.labels(
        decision.backend, "allowed" if decision.allowed else "denied"
    ).inc()
    if decision.backend in ("local", "allow"):
        runtime.metrics.limiter_failures.labels(decision.backend).inc()


async def mint(runtime: Runtime, session_request: SessionRequest) -> MintedSession:
    settings = runtime.settings
    adapter, target = provider_for(session_request.endpoint, session_request.model)
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    started = time.perf_counter()
    outcome = "ok"
    try:
        return await adapter.mint(
            runtime.transport,
            MintRequest(
                endpoint=target,
                model=session_request.model,
                voice=session_request.voice,
                api_key=api_key,
                secret_ttl=settings.secret_ttl,
                timeout=settings.provider_timeout,
            ),
        )
    except BaseException:  # a refusal, an adapter bug or a cancelled call: none minted
        outcome = "error"
        raise
    finally:
        runtime.metrics.provider_seconds.labels(outcome).observe(time.perf_counter() - started)
