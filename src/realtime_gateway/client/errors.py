"""The client's errors, one per gateway `error_code`:

GatewayClientError               status, error_code, message
├── InvalidRequestError          400 invalid_request
├── UnauthorizedError            401 unauthorized
├── RateLimitedError             429 rate_limited        (+ retry_after)
├── ProviderError                500 provider_error
├── LimiterUnavailableError      503 limiter_unavailable
├── UnexpectedResponseError      any other code, or an answer that is not the documented JSON
├── GatewayUnreachableError      gateway_unreachable     (no HTTP answer at all)
├── SdpRefusedError              sdp_refused             (provider refused the offer)
└── IceTimeoutError              ice_timeout             (not connected within the bound)
"""

from __future__ import annotations


class GatewayClientError(Exception):
    error_code: str = "client_error"

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        if error_code is not None:
            self.error_code = error_code

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.error_code}{where}: {self.message}"


class InvalidRequestError(GatewayClientError):
    error_code = "invalid_request"


class UnauthorizedError(GatewayClientError):
    error_code = "unauthorized"


class RateLimitedError(GatewayClientError):
    error_code = "rate_limited"

    def __init__(self, message: str, *, status: int | None = None, retry_after: int | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderError(GatewayClientError):
    error_code = "provider_error"


class LimiterUnavailableError(GatewayClientError):
    error_code = "limiter_unavailable"


class UnexpectedResponseError(GatewayClientError):
    error_code = "unexpected_response"


class GatewayUnreachableError(GatewayClientError):
    error_code = "gateway_unreachable"


class SdpRefusedError(GatewayClientError):
    error_code = "sdp_refused"


class IceTimeoutError(GatewayClientError):
    error_code = "ice_timeout"


_ERRORS_BY_CODE: dict[str, type[GatewayClientError]] = {
    cls.error_code: cls
    for cls in (
        InvalidRequestError,
        UnauthorizedError,
        ProviderError,
        LimiterUnavailableError,
    )
}
