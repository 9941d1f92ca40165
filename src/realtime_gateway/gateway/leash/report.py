"""What the operator sees of the leash: one audit line per call end (`event: call.ended`) and
the metrics `gateway_calls_active{tenant}`, `gateway_calls_ended_total{reason}`,
`gateway_call_seconds_total{tenant}`, `gateway_call_tokens_total{tenant,kind}`."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge

from realtime_gateway.gateway.leash.types import CallEnd
from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER
from realtime_gateway.gateway.observability.metrics import GatewayMetrics

audit_log = logging.getLogger(AUDIT_LOGGER)


class LeashMetrics:
    """Registered on the gateway's own registry; tenant labels bounded as the gateway's are."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        registry = metrics.registry
        self.active = Gauge(
            "gateway_calls_active",
            "Live brokered calls per tenant, across replicas (as last seen by this replica)",
            ["tenant"],
            registry=registry,
        )
        self.ended = Counter(
            "gateway_calls_ended",
            "Brokered calls ended, by ended_reason (counted by the replica that ended them)",
            ["reason"],
            registry=registry,
        )
        self.seconds = Counter(
            "gateway_call_seconds",
            "Audio seconds of ended calls (provider figure when given, else the gateway clock)",
            ["tenant"],
            registry=registry,
        )
        self.tokens = Counter(
            "gateway_call_tokens",
            "Tokens of ended calls, by kind (input, output)",
            ["tenant", "kind"],
            registry=registry,
        )

    def tenant_label(self, tenant: str) -> str:
        return self._metrics.tenant_label(tenant)

    def set_active(self, tenant: str, live: int) -> None:
        self.active.labels(self.tenant_label(tenant)).set(live)


def report_call_end(metrics: LeashMetrics, end: CallEnd) -> None:
    tenant = metrics.tenant_label(end.tenant)
    metrics.ended.labels(end.reason).inc()
    metrics.seconds.labels(tenant).inc(end.seconds)
    metrics.tokens.labels(tenant, "input").inc(end.tokens_in)
    metrics.tokens.labels(tenant, "output").inc(end.tokens_out)
    audit_log.info(
        "call ended",
        extra={
            "event": "call.ended",
            "tenant": end.tenant,
            "call_id": end.call_id,
            "reason": end.reason,
            "seconds": round(end.seconds, 3),
            "tokens_in": end.tokens_in,
            "tokens_out": end.tokens_out,
        },
    )
