"""The gateway's errors. Each carries its HTTP status and `error_code`; one handler in `app`
turns any of them into the documented body `{"error_code": ..., "message": ...}`.

    GatewayError              500 internal_error      (anything unexpected)
    ├── InvalidRequest        400 invalid_request
    ├── Unauthorized          401 unauthorized        (+ WWW-Authenticate: Bearer)
    ├── TransferNotAllowed    403 transfer_not_allowed (refer: not a refer_targets entry)
    ├── NotFound              404 not_found
    ├── Conflict              409 conflict            (admin API: the tenant exists)
    ├── MethodNotAllowed      405 method_not_allowed
    ├── RequestTimeout        408 request_timeout
    ├── PayloadTooLarge       413 payload_too_large
    ├── RateLimited           429 rate_limited        (+ Retry-After)
    ├── TooManyCalls          429 too_many_calls      (the tenant's live-call cap)
    ├── QuotaExceeded         429 quota_exceeded      (+ Retry-After to 00:00 UTC)
    ├── HeadersTooLarge       431 headers_too_large
    ├── ProviderError         500 provider_error
    │   └── ProviderUnavailable   (5xx, timeout, unreachable: the tenant's hit is refunded)
    ├── ServerBusy            503 server_busy          (connection cap reached)
    ├── LimiterUnavailable    503 limiter_unavailable
    ├── CallsUnavailable      503 calls_unavailable   (brokered: Redis holding call state down)
    ├── NotReady              503 not_ready           (GET /readyz only)
    └── ClientClosedRequest   499 cancelled           (never sent: the caller went away)

Each class's docstring is its line in the error table of the docs site (docs/errors.md).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.types import Send


class GatewayError(Exception):
    """A bug in the gateway, or a bare HTTP 500 from the framework: logged once as one JSON
    record with its `exception` and `trace`; the caller gets only the body."""

    status_code: int = 500
    error_code: str = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})

    def body(self, path: str = "") -> dict[str, Any]:
        return error_body(self.error_code, self.message, self.status_code, path)


# OpenAI's `error.type` by status, so an OpenAI SDK reads our refusals as it reads OpenAI's.
OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error",
                429: "rate_limit_error"}  # fmt: skip


def is_openai_path(path: str) -> bool:
    """The OpenAI-compatible surface answers errors in OpenAI's shape (DESIGN section 12)."""
    return path == "/v1" or path.startswith("/v1/")


def error_body(error_code: str, message: str, status: int = 500, path: str = "") -> dict[str, Any]:
    """The one error body every refusal carries: `{error_code, message}`, or on `/v1` paths
    OpenAI's `{"error": {message, type, code, param}}` with our `error_code` as `code`."""
    if is_openai_path(path):
        kind = OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        return {"error": {"message": message, "type": kind, "code": error_code, "param": None}}
    return {"error_code": error_code, "message": message}


def error_json(error: GatewayError, path: str = "") -> bytes:
    """The error's body as sent, encoded as Starlette's `JSONResponse` encodes every other."""
    return json.dumps(error.body(path), ensure_ascii=False, separators=(",", ":")).encode()


async def send_error(
    send: Send, error: GatewayError, *, close: bool = False, path: str = ""
) -> None:
    """The error as a whole response, for ASGI layers that answer without a `Response`."""
    body = error_json(error, path)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InvalidRequest(GatewayError):
    """The body is not a JSON object, or `model`/`voice`/`endpoint` is missing, ill-formed or
    not allowed, or a field is unknown; on `POST /realtime_calls`, the body is not an SDP offer."""

    status_code = 400
    error_code = "invalid_request"


class Unauthorized(GatewayError):
    """The credential is missing, malformed, unknown, revoked or expired (a JWT's signature,
    algorithm, issuer, audience, `exp` or tenant claim included), or a call token is unknown,
    expired or already used. Carries `WWW-Authenticate: Bearer`."""

    status_code = 401
    error_code = "unauthorized"

    def __init__(self, message: str = "missing or invalid credential") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(GatewayError):
    """No such route (a trailing slash is not redirected), or a call of another tenant or not
    created by the presented call token (never 403: no existence leak)."""

    status_code = 404
    error_code = "not_found"


class TransferNotAllowed(GatewayError):
    """`refer`: the target is not one of the tenant's `refer_targets` (a transfer to an
    arbitrary number is toll fraud); the call goes on untouched."""

    status_code = 403
    error_code = "transfer_not_allowed"


class Conflict(GatewayError):
    """Admin API only: a tenant of that name exists already (in the registry, the environment
    or the config file; a disabled tenant keeps its name)."""

    status_code = 409
    error_code = "conflict"


class MethodNotAllowed(GatewayError):
    """The route exists, but not with this method."""

    status_code = 405
    error_code = "method_not_allowed"


class RequestTimeout(GatewayError):
    """The body did not arrive within `GATEWAY_BODY_TIMEOUT`, or the request line and headers
    within `GATEWAY_HEADER_TIMEOUT`; the connection is closed."""

    status_code = 408
    error_code = "request_timeout"


class PayloadTooLarge(GatewayError):
    """The body is over `GATEWAY_MAX_BODY_BYTES`, or an SDP offer over
    `GATEWAY_MAX_OFFER_BYTES`."""

    status_code = 413
    error_code = "payload_too_large"


class RateLimited(GatewayError):
    """The tenant spent its session-creation rate; `Retry-After` says when to try again."""

    status_code = 429
    error_code = "rate_limited"


# -- the leash (gateway/leash/) ---------------------------------------------------------------
class TooManyCalls(GatewayError):
    """Brokered: the tenant already has `max_concurrent_calls` live calls (the leash)."""

    status_code = 429
    error_code = "too_many_calls"


class QuotaExceeded(GatewayError):
    """Brokered: the tenant's `daily_audio_seconds` are spent today; `Retry-After` counts to
    00:00 UTC (the leash)."""

    status_code = 429
    error_code = "quota_exceeded"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


# ---------------------------------------------------------------------------------------------
class HeadersTooLarge(GatewayError):
    """The request line and headers are over `GATEWAY_MAX_HEADER_BYTES`: answered the moment
    the bound is passed, and the connection is closed."""

    status_code = 431
    error_code = "headers_too_large"


class ProviderError(GatewayError):
    """The provider answered non-2xx or a redirect (never followed), timed out, could not be
    reached, or answered a malformed session; the message is the gateway's own words."""

    status_code = 500
    error_code = "provider_error"


class ProviderUnavailable(ProviderError):
    """The provider failed (5xx, no answer in time, unreachable), not the request: the
    session route refunds the tenant's rate-limit hit. Same status and body as its parent."""


class ServerBusy(GatewayError):
    """More connections than `GATEWAY_MAX_CONNECTIONS` (answered by the protocol, not a
    route), or more relayed WebSocket sessions than `GATEWAY_WS_MAX_SESSIONS` (at the upgrade)."""

    status_code = 503
    error_code = "server_busy"


class LimiterUnavailable(GatewayError):
    """Redis is down and `GATEWAY_LIMITER_FAILURE_MODE=deny`."""

    status_code = 503
    error_code = "limiter_unavailable"


class CallsUnavailable(GatewayError):
    """Brokered with Redis configured: Redis, which holds the call tokens and calls, is
    unreachable (no local fallback: a token must be redeemable on every replica)."""

    status_code = 503
    error_code = "calls_unavailable"


class NotReady(GatewayError):
    """Only from `GET /readyz`: the message names what is missing (no provider key; Redis
    unreachable or refusing the credentials)."""

    status_code = 503
    error_code = "not_ready"


class ClientClosedRequest(GatewayError):
    """The caller went away before its request was read whole: nothing is sent back; the
    request is audited as `cancelled` with nginx's 499, never as a gateway failure."""

    status_code = 499
    error_code = "cancelled"


# The codes a bare status maps back to (NotReady is /readyz's own answer, never a refusal).
ERROR_CODES: dict[str, type[GatewayError]] = {
    cls.error_code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        TransferNotAllowed,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        PayloadTooLarge,
        # the leash's 429s before rate_limited, which stays the code of a bare 429 in app.py
        TooManyCalls,
        QuotaExceeded,
        RateLimited,
        HeadersTooLarge,
        ProviderError,
        # Before LimiterUnavailable: the last class of a status names its code in `app`.
        ServerBusy,
        CallsUnavailable,
        LimiterUnavailable,
    )
}


# A bare status (an HTTPException raised by the framework or a library) names its code here.
# 500 is ambiguous (provider_error is only ever raised as a ProviderError): it is internal_error.
_CODES_BY_STATUS = {
    cls.status_code: code for code, cls in ERROR_CODES.items() if cls.status_code != 500
}


def error_code_for_status(status: int) -> str:
    """The `error_code` for an error known only by its HTTP status."""
    if status == 500:
        return GatewayError.error_code
    return _CODES_BY_STATUS.get(status, "http_error")


class ErrorBody(BaseModel):
    """The one error body, as the OpenAPI document shows it."""

    error_code: str
    message: str


class OpenAIError(BaseModel):
    message: str
    type: str
    code: str
    param: str | None


class OpenAIErrorBody(BaseModel):
    """The error body on `/v1` paths, as OpenAI answers: our `error_code` is its `code`."""

    error: OpenAIError


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry for an error status, with the error body's schema."""
    return {"model": ErrorBody, "description": description}


def documented_openai(description: str) -> dict[str, Any]:
    """The same for a `/v1` route, whose errors have OpenAI's shape."""
    return {"model": OpenAIErrorBody, "description": description}
