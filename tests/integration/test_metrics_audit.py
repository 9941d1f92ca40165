"""What an operator reads: `/metrics` (bounded labels) and the audit log (one JSON line per
session request, never the secret)."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.gateway import GatewayFactory, RunningGateway
from tests.fixtures.processes import gateway_process
from tests.fixtures.provider import (
    BETA,
    GA,
    PROVIDER_KEY,
    PROVIDER_TIMEOUT,
    ScriptedProvider,
    error,
    scripted_provider,
)

JWT_SECRET = "metrics-test-jwt-secret-0123456789abcdef"


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    with scripted_provider() as running:
        yield running


def samples(gateway: RunningGateway) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(gateway.url("/metrics"), headers=gateway.metrics_auth(), timeout=5).text
    found: dict[str, list[tuple[dict[str, str], float]]] = collections.defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append((dict(sample.labels), sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in found[name] if all(got.get(k) == w for k, w in labels.items()))


def test_metrics_sessions_latency_limiter_with_bounded_labels(
    provider: ScriptedProvider, gateway_factory: GatewayFactory
) -> None:
    gateway = gateway_factory(
        openai_api_key=PROVIDER_KEY,
        provider_endpoint=provider.ga_endpoint,
        allowed_endpoints=[provider.ga_endpoint],
        provider_timeout=PROVIDER_TIMEOUT,
        rate_limit="1000/minute",
        tenant_rate_limits=["globex=1/minute"],
        jwt_secret=JWT_SECRET,
    )

    def post(model: str, key: str | None = None) -> int:
        response = httpx.post(
            gateway.url("/realtime_session"),
            json={"model": model, "voice": "verse"},
            headers=gateway.auth(key),
            timeout=10,
        )
        return response.status_code

    assert post("gpt-realtime") == 200
    unknown_models = [f"private-model-{i}" for i in range(12)]
    assert [post(model) for model in unknown_models] == [200] * 12
    token = jwt.encode({"tenant": "zeta-unlisted", "exp": int(time.time()) + 60}, JWT_SECRET)
    assert post("gpt-realtime", token) == 200
    provider.script(error(503))
    assert post("gpt-realtime") == 500
    assert [post("gpt-realtime", gateway.other_tenant_key) for _ in range(2)] == [200, 429]
    assert post("bad model!") == 400

    found = samples(gateway)
    sessions = "gateway_sessions_total"
    assert value(found, sessions, tenant="acme", model="gpt-realtime", outcome="created") == 1
    assert value(found, sessions, tenant="acme", model="other", outcome="created") == 12
    assert value(found, sessions, tenant="other", model="gpt-realtime", outcome="created") == 1
    assert value(found, sessions, tenant="acme", outcome="provider_error") == 1
    assert value(found, sessions, tenant="globex", outcome="rate_limited") == 1
    assert value(found, sessions, tenant="acme", model="other", outcome="invalid_request") == 1
    # Bounded cardinality: 12 unknown models and an unlisted JWT tenant add no label values.
    assert {labels["tenant"] for labels, _ in found[sessions]} == {"acme", "globex", "other"}
    assert {labels["model"] for labels, _ in found[sessions]} == {"gpt-realtime", "other"}
    assert "zeta-unlisted" not in str(found) and "private-model" not in str(found)

    requests = 1 + 12 + 1 + 1 + 2 + 1
    assert value(found, "gateway_request_seconds_count") == requests
    assert value(found, "gateway_request_seconds_count", outcome="created") == 15
    assert value(found, "gateway_request_seconds_bucket", le="+Inf") == requests
    assert value(found, "gateway_provider_seconds_count", outcome="ok") == 15
    assert value(found, "gateway_provider_seconds_count", outcome="error") == 1
    assert value(found, "gateway_provider_seconds_sum") > 0
    decisions = "gateway_limiter_decisions_total"
    assert value(found, decisions, backend="memory", decision="allowed") == 16
    assert value(found, decisions, backend="memory", decision="denied") == 1
    # Failure-mode activations are declared (and counted per mode in the fault matrix).
    assert (
        "# TYPE gateway_limiter_failures_total counter"
        in httpx.get(gateway.url("/metrics"), headers=gateway.metrics_auth(), timeout=5).text
    )


AUDIT_FIELDS = {
    "tenant",
    "status",
    "model",
    "voice",
    "endpoint_host",
    "session_id",
    "outcome",
    "latency_ms",
}


def test_audit_line_per_mint_never_the_secret(provider: ScriptedProvider, tmp_path: Path) -> None:
    audit_file = tmp_path / "audit.jsonl"
    key = "rtg_audit_acme_key_0123456789abcdef"
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY=PROVIDER_KEY,
        GATEWAY_API_KEYS=f"acme:{key}",
        GATEWAY_PROVIDER_ENDPOINT=provider.ga_endpoint,
        GATEWAY_ALLOWED_ENDPOINTS=f"{provider.ga_endpoint},{provider.beta_endpoint}",
        GATEWAY_RATE_LIMIT="4/minute",
        GATEWAY_AUDIT_LOG=str(audit_file),
    ) as gateway:
        with httpx.Client(base_url=gateway.base_url, timeout=10) as http:

            def post(body: dict[str, str]) -> httpx.Response:
                return http.post(
                    "/realtime_session", json=body, headers={"Authorization": f"Bearer {key}"}
                )

            provider.script(GA, BETA, error(401))
            answers = [
                post({"model": "gpt-realtime", "voice": "verse"}),
                post(
                    {"model": "gpt-realtime", "voice": "alloy", "endpoint": provider.beta_endpoint}
                ),
                post({"model": "gpt-realtime", "voice": "verse"}),
                post({"model": "gpt-realtime", "voice": "!"}),
                post({"model": "gpt-realtime-mini", "voice": "verse"}),
                post({"model": "gpt-realtime", "voice": "verse"}),
            ]
            refused = http.post(
                "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers={"Authorization": "Bearer not-a-tenant-key"},
            )
    assert [a.status_code for a in answers] == [200, 200, 500, 400, 200, 429]
    assert refused.status_code == 401
    lines = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert len(lines) == len(answers) + 1
    login = lines.pop()  # a refused login is recorded too, naming no tenant
    assert (login["tenant"], login["outcome"], login["status"]) == (None, "unauthorized", 401)
    assert "not-a-tenant-key" not in audit_file.read_text()
    assert [line["status"] for line in lines] == [200, 200, 500, 400, 200, 429]
    for line in lines:
        assert AUDIT_FIELDS <= set(line)
        assert line["tenant"] == "acme"
        assert line["logger"] == "realtime_gateway.gateway.observability.audit"
        assert isinstance(line["latency_ms"], float | int) and line["latency_ms"] >= 0
    host = provider.base_url.removeprefix("http://")
    assert [line["outcome"] for line in lines] == [
        "created",
        "created",
        "provider_error",
        "invalid_request",
        "created",
        "rate_limited",
    ]
    assert [line["endpoint_host"] for line in lines] == [host, host, host, None, host, host]
    assert [line["voice"] for line in lines] == ["verse", "alloy", "verse", None, "verse", "verse"]
    assert lines[4]["model"] == "gpt-realtime-mini"
    created = [answers[i].json()["session"] for i in (0, 1, 4)]
    assert [lines[i]["session_id"] for i in (0, 1, 4)] == [s["id"] for s in created]
    assert all(lines[i]["session_id"] is None for i in (2, 3, 5))
    written = audit_file.read_text()
    assert len(provider.secrets_issued) == 3
    for secret in provider.secrets_issued:
        assert secret not in written
    assert PROVIDER_KEY not in written and key not in written
