"""The record of every session request: one audit JSON line and the session metrics.

Called once per `POST /realtime_session`, refused logins included; it is handed names and
outcomes only, never a credential or a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER
from realtime_gateway.gateway.observability.metrics import GatewayMetrics

audit_log = logging.getLogger(AUDIT_LOGGER)


@dataclass(frozen=True)
class SessionRecord:
    tenant: str | None
    model: str | None
    voice: str | None
    endpoint: str | None
    session_id: str | None
    outcome: str  # "created" or the error_code
    status: int
    elapsed: float  # seconds


def record_session(metrics: GatewayMetrics, record: SessionRecord) -> None:
    metrics.request_seconds.labels(record.outcome).observe(record.elapsed)
    metrics.sessions.labels(
        metrics.tenant_label(record.tenant), metrics.model_label(record.model), record.outcome
    ).inc()
    audit_log.info(
        "session request",
        extra={
            "tenant": record.tenant,
            "model": record.model,
            "voice": record.voice,
            "endpoint_host": urlsplit(record.endpoint).netloc if record.endpoint else None,
            "session_id": record.session_id,
            "outcome": record.outcome,
            "status": record.status,
            "latency_ms": round(record.elapsed * 1000, 2),
        },
    )
