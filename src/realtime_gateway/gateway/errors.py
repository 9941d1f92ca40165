"""The gateway's errors. Each carries its HTTP status and `error_code`; one handler in `app`
turns any of them into the documented body `{"error_code": ..., "message": ...}`.

    GatewayError              500 internal_error      (anything unexpected)
    ├── InvalidRequest        400 invalid_request
    ├── Unauthorized          401 unauthorized        (+ WWW-Authenticate: Bearer)
    ├── NotFound              404 not_found
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
    └── ClientClosedRequest   499 cancelled           (never sent: the caller went away)
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.types import Send


class GatewayError(Exception):
    status_code: int = 500
    error_code: str = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return error_body(self.error_code, self.message)


def error_body(error_code: str, message: str) -> dict[str, str]:
    """The one error body every refusal carries."""
    return {"error_code": error_code, "message": message}


def error_json(error: GatewayError) -> bytes:
    """The error's body as sent, encoded as Starlette's `JSONResponse` encodes every other."""
    return json.dumps(error.body(), ensure_ascii=False, separators=(",", ":")).encode()


async def send_error(send: Send, error: GatewayError, *, close: bool = False) -> None:
    """The error as a whole response, for ASGI layers that answer without a `Response`."""
    body = error_json(error)
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
    status_code = 400
    error_code = "invalid_request"


class Unauthorized(GatewayError):
    status_code = 401
    error_code = "unauthorized"

    def __init__(self, message: str = "missing or invalid credential") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(GatewayError):
    status_code = 404
    error_code = "not_found"


class MethodNotAllowed(GatewayError):
    status_code = 405
    error_code = "method_not_allowed"


class RequestTimeout(GatewayError):
    status_code = 408
    error_code = "request_timeout"


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_code = "payload_too_large"


class RateLimited(GatewayError):
    status_code = 429
    error_code = "rate_limited"


# -- the leash (gateway/leash/) ---------------------------------------------------------------
class TooManyCalls(GatewayError):
    status_code = 429
    error_code = "too_many_calls"


class QuotaExceeded(GatewayError):
    status_code = 429
    error_code = "quota_exceeded"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


# ---------------------------------------------------------------------------------------------
class HeadersTooLarge(GatewayError):
    status_code = 431
    error_code = "headers_too_large"


class ProviderError(GatewayError):
    status_code = 500
    error_code = "provider_error"


class ProviderUnavailable(ProviderError):
    """The provider failed (5xx, no answer in time, unreachable), not the request: the
    session route refunds the tenant's rate-limit hit. Same status and body as its parent."""


class ServerBusy(GatewayError):
    """More connections than `GATEWAY_MAX_CONNECTIONS`: answered by the protocol, not a route."""

    status_code = 503
    error_code = "server_busy"


class LimiterUnavailable(GatewayError):
    status_code = 503
    error_code = "limiter_unavailable"


class CallsUnavailable(GatewayError):
    status_code = 503
    error_code = "calls_unavailable"


class ClientClosedRequest(GatewayError):
    """The caller went away before its request was read whole: nothing is sent back; the
    request is audited as `cancelled` with nginx's 499, never as a gateway failure."""

    status_code = 499
    error_code = "cancelled"


ERROR_CODES: dict[str, type[GatewayError]] = {
    cls.error_code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
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


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry for an error status, with the error body's schema."""
    return {"model": ErrorBody, "description": description}
