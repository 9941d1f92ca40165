"""The operational surfaces, against a real gateway on 127.0.0.1:
`/metrics` needs the operator's token, `/docs` is off unless enabled, no redirect is built
from the Host header."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.gateway import METRICS_TOKEN, GatewayFactory, RunningGateway, wired_to


def test_anonymous_caller_cannot_read_tenant_names_from_metrics(gateway: RunningGateway) -> None:
    minted = httpx.post(
        gateway.url("/realtime_session"),
        json={"model": "gpt-realtime", "voice": "verse"},
        headers=gateway.auth(),
        timeout=10,
    )
    assert minted.status_code == 200, minted.text
    anonymous = httpx.get(gateway.url("/metrics"), timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["error_code"] == "unauthorized"
    assert gateway.tenant not in anonymous.text
    # A tenant's own key is not the metrics token.
    as_tenant = httpx.get(gateway.url("/metrics"), headers=gateway.auth(), timeout=5)
    assert as_tenant.status_code == 401 and gateway.tenant not in as_tenant.text
    operator = httpx.get(gateway.url("/metrics"), headers=gateway.metrics_auth(), timeout=5)
    assert operator.status_code == 200
    assert f'tenant="{gateway.tenant}"' in operator.text


def test_metrics_are_off_without_a_token(gateway_factory: GatewayFactory, stub: Any) -> None:
    gateway = gateway_factory(**wired_to(stub, metrics_token=None))
    answer = httpx.get(
        gateway.url("/metrics"), headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
    )
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "not_found"


def test_docs_are_off_unless_enabled(gateway_factory: GatewayFactory, stub: Any) -> None:
    default = gateway_factory(**wired_to(stub))
    for path in ("/docs", "/redoc"):
        answer = httpx.get(default.url(path), timeout=5)
        assert answer.status_code == 404, path
        assert answer.json()["error_code"] == "not_found"
    assert "cdn" not in httpx.get(default.url("/"), timeout=5).text.lower()
    assert httpx.get(default.url("/openapi.json"), timeout=5).status_code == 200
    enabled = gateway_factory(**wired_to(stub, docs=True))
    assert httpx.get(enabled.url("/docs"), timeout=5).status_code == 200


def test_trailing_slash_is_not_found_not_a_redirect_to_the_host_header(
    gateway: RunningGateway,
) -> None:
    for method in ("POST", "GET"):
        answer = httpx.request(
            method,
            gateway.url("/realtime_session/"),
            json={"model": "gpt-realtime", "voice": "verse"},
            headers={**gateway.auth(), "Host": "evil.example"},
            follow_redirects=False,
            timeout=5,
        )
        assert answer.status_code == 404, (method, answer.status_code, answer.headers)
        assert "location" not in answer.headers
        assert answer.json()["error_code"] == "not_found"
