"""Who may read `/metrics`: it names every tenant with its counts, so only a caller with the
operator's `GATEWAY_METRICS_TOKEN`; without a configured token the route is off (404)."""

from __future__ import annotations

import hashlib
import hmac

from realtime_gateway.gateway.auth import bearer_token
from realtime_gateway.gateway.errors import NotFound, Unauthorized
from realtime_gateway.gateway.settings import Settings


def require_metrics_token(settings: Settings, authorization: str | None) -> None:
    """Return when `authorization` carries the metrics token; else raise the documented error."""
    if settings.metrics_token is None:
        raise NotFound("no such route (metrics are served when GATEWAY_METRICS_TOKEN is set)")
    presented = hashlib.sha256(bearer_token(authorization).encode()).digest()
    expected = hashlib.sha256(settings.metrics_token.get_secret_value().encode()).digest()
    if not hmac.compare_digest(presented, expected):
        raise Unauthorized("unknown metrics token")
