"""What the operator sees of the leash: one audit line per call end (`event: call.ended`) and
the metrics `gateway_calls_active{tenant}` (read from the store at each scrape, so every
replica reports the fleet's figure), `gateway_calls_ended_total{reason}`,
`gateway_call_seconds_total{tenant}`, `gateway_call_tokens_total{tenant,kind}`."""

from __future__ import annotations

import logging
from collections import Counter as Tally

from prometheus_client import Counter, Gauge

from realtime_gateway.gateway.calls.store import CallEnd, CallStore
from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER
from realtime_gateway.gateway.observability.metrics import GatewayMetrics

audit_log = logging.getLogger(AUDIT_LOGGER)


class LeashMetrics:
    """Registered on the gateway's own registry; tenant labels bounded as the gateway's are."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        self._labels: set[str] = set()
        registry = metrics.registry
        self.active = Gauge(
            "gateway_calls_active",
            "Admitted and live calls per tenant across replicas, read at scrape",
            ["tenant"],
            registry=registry,
        )
        self.ended = Counter(
            "gateway_calls_ended",
            "Calls ended, by ended_reason (counted by the process that ended them)",
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

    async def refresh_active(self, store: CallStore, tenants: list[str]) -> None:
        """Set the gauge from the store: tenants sharing the `other` label are summed."""
        totals: Tally[str] = Tally()
        for tenant in tenants:
            totals[self._metrics.tenant_label(tenant)] += await store.slots_taken(tenant)
        self._labels |= set(totals)
        for label in self._labels:  # a tenant whose calls all ended reads 0, not its last figure
            self.active.labels(label).set(totals.get(label, 0))

    async def report(self, end: CallEnd) -> None:
        tenant = self._metrics.tenant_label(end.tenant)
        self.ended.labels(end.reason).inc()
        self.seconds.labels(tenant).inc(end.seconds)
        self.tokens.labels(tenant, "input").inc(end.tokens_in)
        self.tokens.labels(tenant, "output").inc(end.tokens_out)
        audit_log.info(
            "call ended",
            extra={
                "event": "call.ended",
                "tenant": end.tenant,
                "call_id": end.call_id,
                "transport": end.transport,
                "reason": end.reason,
                "seconds": round(end.seconds, 3),
                "tokens_in": end.tokens_in,
                "tokens_out": end.tokens_out,
            },
        )
