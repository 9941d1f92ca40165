"""The machine flow: `GatewayClient` mints sessions and runs calls; one error per `error_code`.

The HTTP half needs only httpx (`pip install realtime-gateway[client]`); `GatewayClient.connect`
and `realtime_gateway.client.call` need the media extra (aiortc).
"""

from realtime_gateway.client.errors import (
    CallsUnavailableError,
    GatewayClientError,
    GatewayUnreachableError,
    IceTimeoutError,
    InvalidRequestError,
    LimiterUnavailableError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    SdpRefusedError,
    TooManyCallsError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from realtime_gateway.client.http import DEFAULT_ICE_TIMEOUT, DEFAULT_TIMEOUT, GatewayClient
from realtime_gateway.client.models import ClientSecret, Session

__all__ = [
    "CallsUnavailableError",
    "DEFAULT_ICE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ClientSecret",
    "GatewayClient",
    "GatewayClientError",
    "GatewayUnreachableError",
    "IceTimeoutError",
    "InvalidRequestError",
    "LimiterUnavailableError",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitedError",
    "SdpRefusedError",
    "Session",
    "TooManyCallsError",
    "UnauthorizedError",
    "UnexpectedResponseError",
]
