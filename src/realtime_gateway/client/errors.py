"""The client's errors, one per gateway `error_code`:

GatewayClientError               status, error_code, message, retry_after (from Retry-After)
├── InvalidRequestError          400 invalid_request
├── UnauthorizedError            401 unauthorized
├── RateLimitedError             429 rate_limited
├── TooManyCallsError            429 too_many_calls      (the leash: the tenant's live-call cap)
├── QuotaExceededError           429 quota_exceeded      (the leash: today's audio budget spent)
├── ProviderError                500 provider_error
├── LimiterUnavailableError      503 limiter_unavailable
├── CallsUnavailableError        503 calls_unavailable   (brokered: the gateway's call store down)
├── UnexpectedResponseError      any other code, or an answer that is not the documented JSON
├── GatewayUnreachableError      gateway_unreachable     (no HTTP answer at all)
├── SdpRefusedError              sdp_refused             (the provider refused the offer)
└── IceTimeoutError              ice_timeout             (not connected within the bound)

A gateway's refusal of the offer (brokered mode) is the error of its `error_code`, as for
minting; `SdpRefusedError` is a provider's refusal, or an offer that could not be posted.
"""

from __future__ import annotations


class GatewayClientError(Exception):
    error_code: str = "client_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after  # seconds, when the answer said when to try again
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


class TooManyCallsError(GatewayClientError):
    error_code = "too_many_calls"


class QuotaExceededError(GatewayClientError):
    error_code = "quota_exceeded"


class ProviderError(GatewayClientError):
    error_code = "provider_error"


class LimiterUnavailableError(GatewayClientError):
    error_code = "limiter_unavailable"


class CallsUnavailableError(GatewayClientError):
    error_code = "calls_unavailable"


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
        RateLimitedError,
        TooManyCallsError,
        QuotaExceededError,
        ProviderError,
        LimiterUnavailableError,
        CallsUnavailableError,
    )
}
