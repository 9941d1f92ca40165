"""Prometheus metrics, one registry per app so several gateways can share a test process.

Label values are bounded: tenants come from configuration (others count as `other`), models
from the allow-list or a list of known models (others count as `other`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from realtime_gateway.gateway.settings import Settings

KNOWN_MODELS = (
    "gpt-realtime",
    "gpt-realtime-mini",
    "gpt-4o-realtime-preview",
    "gpt-4o-mini-realtime-preview",
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OTHER = "other"


class GatewayMetrics:
    def __init__(self, settings: Settings, known_tenants: set[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._tenants = frozenset(known_tenants | set(settings.tenant_rates()))
        self._models = frozenset(settings.allowed_models or KNOWN_MODELS)
        self.sessions = Counter(
            "gateway_sessions",
            "Session creation requests by tenant, model and outcome (error_code or created)",
            ["tenant", "model", "outcome"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "gateway_request_seconds",
            "Time to answer POST /realtime_session",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.provider_seconds = Histogram(
            "gateway_provider_seconds",
            "Time the provider took to mint",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.limiter_decisions = Counter(
            "gateway_limiter_decisions",
            "Rate-limit decisions by backend (memory, redis, local, allow) and result",
            ["backend", "decision"],
            registry=self.registry,
        )
        self.limiter_failures = Counter(
            "gateway_limiter_failures",
            "Decisions taken while Redis failed, by failure mode (local, deny, allow)",
            ["mode"],
            registry=self.registry,
        )

    def tenant_label(self, tenant: str | None) -> str:
        if tenant is None:
            return "unauthenticated"
        return tenant if tenant in self._tenants else OTHER

    def model_label(self, model: str | None) -> str:
        return model if model in self._models else OTHER

    def render(self) -> bytes:
        return generate_latest(self.registry)
