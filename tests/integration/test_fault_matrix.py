"""Every provider fault, a Redis outage under each failure mode, and a gateway restart, each
against real servers on 127.0.0.1: the caller gets the documented answer and nothing else."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.gateway import GatewayFactory, RunningGateway
from tests.fixtures.processes import gateway_process, wait_until_port_free
from tests.fixtures.provider import (
    BETA,
    FAULTS,
    GA,
    PROVIDER_KEY,
    PROVIDER_TIMEOUT,
    ScriptedProvider,
    redirect,
    reset_server,
    scripted_provider,
)
from tests.fixtures.servers import RedisServer, wait_for_port

BODY = {"model": "gpt-realtime", "voice": "verse"}
KEY_FRAGMENTS = (PROVIDER_KEY, PROVIDER_KEY[-4:], "Incorrect API key", "invalid_api_key")


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    with scripted_provider() as running:
        yield running


def wired(factory: GatewayFactory, provider: ScriptedProvider, **overrides: Any) -> RunningGateway:
    values: dict[str, Any] = {
        "openai_api_key": PROVIDER_KEY,
        "provider_endpoint": provider.ga_endpoint,
        "allowed_endpoints": [provider.ga_endpoint, provider.beta_endpoint],
        "provider_timeout": PROVIDER_TIMEOUT,
        "rate_limit": "1000/minute",
    }
    values.update(overrides)
    return factory(**values)


def mint(gateway: RunningGateway, body: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        gateway.url("/realtime_session"), json=body or BODY, headers=gateway.auth(), timeout=10
    )


def assert_provider_error(response: httpx.Response, message: str) -> None:
    assert response.status_code == 500, response.text
    assert response.json() == {"error_code": "provider_error", "message": message}
    for fragment in KEY_FRAGMENTS:
        assert fragment not in response.text


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_provider_fault_maps_to_documented_provider_error(
    fault: str, provider: ScriptedProvider, gateway_factory: GatewayFactory
) -> None:
    answer, message = FAULTS[fault]
    gateway = wired(gateway_factory, provider)
    provider.script(answer)

    response = mint(gateway)

    assert_provider_error(response, message)
    assert "Retry-After" not in response.headers  # the provider's 429 is not the tenant's
    [request] = provider.requests
    assert request.path == "/v1/realtime/client_secrets"
    assert request.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    # The gateway is healthy afterwards: the next mint succeeds.
    assert mint(gateway).status_code == 200


def test_provider_429_is_never_the_tenants_rate_limited(
    provider: ScriptedProvider, gateway_factory: GatewayFactory
) -> None:
    gateway = wired(gateway_factory, provider, rate_limit="1/minute")
    provider.script(FAULTS["429"][0])
    first = mint(gateway)
    assert first.json()["error_code"] == "provider_error"
    assert "provider's own rate limit" in first.json()["message"]
    # The tenant's own limit answers differently: 429 rate_limited with Retry-After.
    second = mint(gateway)
    assert second.status_code == 429
    assert second.json()["error_code"] == "rate_limited"
    assert int(second.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(("status", "reason"), [(302, "Found"), (307, "Temporary Redirect")])
def test_provider_key_never_follows_redirect(
    status: int, reason: str, provider: ScriptedProvider, gateway_factory: GatewayFactory
) -> None:
    with scripted_provider() as elsewhere:
        gateway = wired(gateway_factory, provider)
        provider.script(redirect(status, elsewhere.ga_endpoint))

        response = mint(gateway)

        assert_provider_error(
            response, f"OpenAI returned {status} {reason} (redirects are not followed)"
        )
        assert len(provider.requests) == 1
        assert elsewhere.requests == []


def test_connection_reset_mid_answer(gateway_factory: GatewayFactory) -> None:
    with reset_server() as upstream:
        gateway = wired_to(gateway_factory, upstream.ga_endpoint)
        response = mint(gateway)
        assert_provider_error(response, "OpenAI could not be reached")
        assert len(upstream.received) == 1
        assert upstream.received[0].startswith(b"POST /v1/realtime/client_secrets ")


def wired_to(factory: GatewayFactory, endpoint: str) -> RunningGateway:
    return factory(
        openai_api_key=PROVIDER_KEY,
        provider_endpoint=endpoint,
        allowed_endpoints=[endpoint],
        provider_timeout=PROVIDER_TIMEOUT,
    )


def test_good_ga_and_beta_answers_pass_the_secret_through(
    provider: ScriptedProvider, gateway_factory: GatewayFactory
) -> None:
    gateway = wired(gateway_factory, provider)
    provider.script(GA, BETA)
    ga = mint(gateway)
    beta = mint(gateway, {**BODY, "endpoint": provider.beta_endpoint})
    assert ga.status_code == 200 and beta.status_code == 200
    assert ga.headers["Cache-Control"] == "no-store"
    assert ga.json()["session"]["client_secret"]["value"] == provider.secrets_issued[0]
    assert beta.json()["session"]["client_secret"]["value"] == provider.secrets_issued[1]
    assert ga.json()["session"]["webrtc_url"] == provider.base_url + "/v1/realtime/calls"
    assert beta.json()["session"]["webrtc_url"] == (
        provider.base_url + "/v1/realtime?model=gpt-realtime"
    )
    assert [r.path for r in provider.requests] == [
        "/v1/realtime/client_secrets",
        "/v1/realtime/sessions",
    ]


# -- Redis stopped and restarted mid-run -------------------------------------------------------

OUTAGE: dict[str, tuple[int, str | None]] = {
    "local": (200, None),
    "deny": (503, "limiter_unavailable"),
    "allow": (200, None),
}


@pytest.mark.parametrize("mode", sorted(OUTAGE))
def test_redis_outage_under_each_failure_mode(
    mode: str,
    provider: ScriptedProvider,
    gateway_factory: GatewayFactory,
    redis_server: RedisServer,
    redis_url: str,
) -> None:
    gateway = wired(
        gateway_factory,
        provider,
        redis_url=redis_url,
        limiter_failure_mode=mode,
        rate_limit="2/minute",
    )
    first = mint(gateway)
    assert first.status_code == 200
    assert httpx.get(gateway.url("/readyz"), timeout=5).status_code == 200
    status, code = OUTAGE[mode]
    redis_server.stop()
    try:
        down = [mint(gateway) for _ in range(3)]
        readyz = httpx.get(gateway.url("/readyz"), timeout=5)
        assert readyz.status_code == 503
        assert readyz.json()["error_code"] == "not_ready"
        assert "limiter degraded" in readyz.json()["message"]
        if mode == "local":
            # The in-process window starts empty: 2 more, then the tenant is limited locally.
            assert [r.status_code for r in down] == [200, 200, 429]
            assert down[2].json()["error_code"] == "rate_limited"
        elif mode == "allow":
            assert [r.status_code for r in down] == [200, 200, 200]
        else:
            assert [r.status_code for r in down] == [status] * 3
            assert down[0].json() == {
                "error_code": code,
                "message": "rate limiter unavailable",
            }
        metrics = httpx.get(gateway.url("/metrics"), headers=gateway.metrics_auth(), timeout=5).text
        assert f'gateway_limiter_failures_total{{mode="{mode}"}} 3.0' in metrics
    finally:
        redis_server.start()
    assert httpx.get(gateway.url("/readyz"), timeout=5).status_code == 200
    # Counted in Redis again; the restarted Redis (no persistence) starts with an empty window.
    after = [mint(gateway) for _ in range(3)]
    assert [r.status_code for r in after] == [200, 200, 429], after[0].text
    assert after[2].json()["error_code"] == "rate_limited"


# -- the gateway restarted while a client retries ----------------------------------------------


def test_gateway_restart_while_client_retries(provider: ScriptedProvider, tmp_path: Path) -> None:
    tenant_key = "rtg_restart_tenant_key_0123456789"
    wanted = 30
    results: list[int] = []
    refused: list[str] = []
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY=PROVIDER_KEY,
        GATEWAY_API_KEYS=f"acme:{tenant_key}",
        GATEWAY_PROVIDER_ENDPOINT=provider.ga_endpoint,
        GATEWAY_ALLOWED_ENDPOINTS=provider.ga_endpoint,
        GATEWAY_RATE_LIMIT="1000/minute",
    ) as gateway:

        def client() -> None:
            deadline = time.monotonic() + 60
            with httpx.Client(timeout=5) as http:
                while len(results) < wanted and time.monotonic() < deadline:
                    try:
                        response = http.post(
                            gateway.base_url + "/realtime_session",
                            json=BODY,
                            headers={"Authorization": f"Bearer {tenant_key}"},
                        )
                    except httpx.TransportError as error:
                        refused.append(type(error).__name__)
                        time.sleep(0.05)
                        continue
                    results.append(response.status_code)
                    time.sleep(0.02)

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while len(results) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        gateway.kill()
        wait_until_port_free(gateway.port)
        time.sleep(0.3)  # the client keeps retrying against a closed port meanwhile
        gateway.start()
        wait_for_port(gateway.port)
        thread.join(70)

    print(f"restart: {len(results)} answers, {len(refused)} refused attempts during the outage")
    assert not thread.is_alive()
    assert results == [200] * wanted, f"{results}\n{gateway.output()[-2000:]}"
    assert refused, "the client never saw the gateway down"
