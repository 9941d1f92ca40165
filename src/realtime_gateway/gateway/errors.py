"""The gateway's errors. Each carries its HTTP status and `error_code`; one handler in `app`
turns any of them into the documented body `{"error_code": ..., "message": ...}`.

    GatewayError
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
    ├── LimiterUnavailable    503 limiter_unavailable
    └── CallsUnavailable      503 calls_unavailable   (brokered: Redis holding call state down)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class GatewayError(Exception):
    status_code: int = 500
    error_code: str = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


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


class LimiterUnavailable(GatewayError):
    status_code = 503
    error_code = "limiter_unavailable"


class CallsUnavailable(GatewayError):
    status_code = 503
    error_code = "calls_unavailable"


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
        CallsUnavailable,  # before LimiterUnavailable: a bare 503 keeps that code
        LimiterUnavailable,
    )
}


class ErrorBody(BaseModel):
    """The one error body, as the OpenAPI document shows it."""

    error_code: str
    message: str


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry for an error status, with the error body's schema."""
    return {"model": ErrorBody, "description": description}
