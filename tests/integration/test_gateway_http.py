"""The `/realtime_session` contract over real HTTP: a gateway served by uvicorn on 127.0.0.1,
minting from the offline stub. One test per row of DESIGN.md's error table, and the happy path."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.servers import free_port

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BODY = {"model": "gpt-realtime", "voice": "verse"}


def post(
    gateway: RunningGateway,
    body: Any = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        gateway.url("/realtime_session"),
        json=BODY if body is None else body,
        headers={**gateway.auth(key), **(headers or {})},
        timeout=10,
    )


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    message: str = body["message"]
    return message


def test_mints_a_session_in_the_documented_shape(gateway: RunningGateway, stub: Any) -> None:
    response = post(gateway)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    session = response.json()["session"]
    assert set(session) == {"id", "model", "voice", "expires_at", "client_secret", "webrtc_url"}
    assert session["model"] == "gpt-realtime" and session["voice"] == "verse"
    assert session["client_secret"]["value"].startswith("ek_")
    assert ISO_Z.match(session["expires_at"]) and ISO_Z.match(
        session["client_secret"]["expires_at"]
    )
    assert session["webrtc_url"] == stub.base_url + "/v1/realtime/calls"
    assert stub.state.mint_count == 1


def test_secret_lives_about_secret_ttl(gateway: RunningGateway) -> None:
    from datetime import datetime

    session = post(gateway).json()["session"]
    expires = datetime.fromisoformat(session["client_secret"]["expires_at"].replace("Z", "+00:00"))
    assert 50 <= expires.timestamp() - time.time() <= 61


def test_endpoint_override_to_an_allowed_beta_endpoint(gateway: RunningGateway, stub: Any) -> None:
    response = post(gateway, {**BODY, "endpoint": stub.beta_endpoint})
    assert response.status_code == 200, response.text
    assert response.json()["session"]["webrtc_url"] == (
        stub.base_url + "/v1/realtime?model=gpt-realtime"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        ({"voice": "verse"}, "model is required"),
        ({"model": "", "voice": "verse"}, "model must be"),
        ({"model": "gpt-realtime", "voice": "bad voice"}, "voice must be"),
        ({**BODY, "instructions": "hi"}, "unknown field 'instructions'"),
        ({**BODY, "endpoint": "https://collector.example/v1/realtime/client_secrets"}, "not in"),
        ({**BODY, "endpoint": "not-a-url"}, "http or https"),
    ],
)
def test_invalid_requests_are_400(gateway: RunningGateway, body: Any, fragment: str) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = httpx.post(
        gateway.url("/realtime_session"), headers=gateway.auth(), timeout=10, **kwargs
    )
    assert fragment in assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer wrong-key"}],
)
def test_unauthenticated_callers_learn_nothing_else(
    gateway: RunningGateway, headers: dict[str, str]
) -> None:
    # A bad body too: authentication is checked first, so the answer is still 401.
    response = httpx.post(gateway.url("/realtime_session"), content=b"{", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_fourth_creation_in_a_minute_is_rate_limited(gateway: RunningGateway) -> None:
    answers = [post(gateway) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert answers[2].headers["ratelimit"].startswith('"default";r=0;t=')
    limited = answers[3]
    assert "try again in" in assert_error(limited, 429, "rate_limited")
    reset = int(limited.headers["ratelimit"].rsplit("t=", 1)[1])
    assert int(limited.headers["retry-after"]) >= max(reset, 1)
    # Another tenant has its own quota.
    assert post(gateway, key=gateway.other_tenant_key).status_code == 200


def test_failed_logins_and_bad_bodies_spend_no_quota(gateway: RunningGateway) -> None:
    for _ in range(5):
        assert post(gateway, key="wrong").status_code == 401
        assert post(gateway, {"model": "x"}).status_code == 400
    assert [post(gateway).status_code for _ in range(3)] == [200, 200, 200]


def test_tenant_rate_override(gateway_factory: GatewayFactory, stub: Any) -> None:
    gateway = gateway_factory(**wired_to(stub, tenant_rate_limits=["acme=5/minute"]))
    codes = [post(gateway).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert post(gateway, key=gateway.other_tenant_key).headers["ratelimit-policy"] == (
        '"default";q=3;w=60'
    )


def test_provider_failure_is_500_with_our_message(gateway: RunningGateway, stub: Any) -> None:
    stub.state.set_fault(status=500)
    message = assert_error(post(gateway), 500, "provider_error")
    assert message == "OpenAI returned 500 Internal Server Error"


def test_wrong_provider_key_is_provider_error_not_unauthorized(
    gateway_factory: GatewayFactory, stub: Any
) -> None:
    gateway = gateway_factory(**wired_to(stub, openai_api_key="sk-wrong-provider-key-000000000000"))
    response = post(gateway)
    assert assert_error(response, 500, "provider_error") == "OpenAI returned 401 Unauthorized"
    assert "sk-wrong" not in response.text


def test_provider_timeout(gateway_factory: GatewayFactory, stub: Any) -> None:
    gateway = gateway_factory(**wired_to(stub, provider_timeout=0.3))
    stub.state.set_fault(delay=2.0)
    message = assert_error(post(gateway), 500, "provider_error")
    assert message == "OpenAI did not answer within 0.3 s"


def test_malformed_provider_answer(gateway: RunningGateway, stub: Any) -> None:
    stub.state.set_fault(malformed=True)
    assert "malformed session" in assert_error(post(gateway), 500, "provider_error")


def test_unreachable_provider(gateway_factory: GatewayFactory) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/realtime/client_secrets"
    gateway = gateway_factory(provider_endpoint=closed, allowed_endpoints=[closed])
    assert assert_error(post(gateway), 500, "provider_error") == "OpenAI could not be reached"


def test_limiter_unavailable_when_redis_is_down_and_mode_is_deny(
    gateway_factory: GatewayFactory, stub: Any
) -> None:
    gateway = gateway_factory(
        **wired_to(
            stub, redis_url=f"redis://127.0.0.1:{free_port()}/0", limiter_failure_mode="deny"
        )
    )
    assert_error(post(gateway), 503, "limiter_unavailable")
    ready = httpx.get(gateway.url("/readyz"))
    assert "redis unreachable" in assert_error(ready, 503, "not_ready")


def test_oversized_body_is_413(gateway: RunningGateway) -> None:
    big = {**BODY, "model": "m" * (17 * 1024)}
    assert_error(post(gateway, big), 413, "payload_too_large")


def test_unknown_route_and_wrong_method(gateway: RunningGateway) -> None:
    assert_error(httpx.get(gateway.url("/nope")), 404, "not_found")
    assert_error(httpx.get(gateway.url("/realtime_session")), 405, "method_not_allowed")
    assert_error(httpx.delete(gateway.url("/healthz")), 405, "method_not_allowed")


def test_jwt_tenants(gateway_factory: GatewayFactory, stub: Any) -> None:
    secret = "jwt-secret-for-the-http-test-0123456789"
    gateway = gateway_factory(**wired_to(stub, jwt_secret=secret, jwt_audience="realtime-gateway"))
    good = jwt.encode(
        {"tenant": "initech", "aud": "realtime-gateway", "exp": int(time.time()) + 60}, secret
    )
    expired = jwt.encode(
        {"tenant": "initech", "aud": "realtime-gateway", "exp": int(time.time()) - 1}, secret
    )
    wrong_audience = jwt.encode(
        {"tenant": "initech", "aud": "other", "exp": int(time.time()) + 60}, secret
    )
    assert post(gateway, key=good).status_code == 200
    assert "expired" in assert_error(post(gateway, key=expired), 401, "unauthorized")
    assert "audience" in assert_error(post(gateway, key=wrong_audience), 401, "unauthorized")


def test_operational_routes(gateway: RunningGateway) -> None:
    assert httpx.get(gateway.url("/healthz")).json() == {"status": "ok"}
    assert httpx.get(gateway.url("/readyz")).json()["status"] == "ready"
    ui = httpx.get(gateway.url("/"))
    assert ui.status_code == 200 and "Enable microphone" in ui.text
    spec = httpx.get(gateway.url("/openapi.json")).json()
    documented = set(spec["paths"]["/realtime_session"]["post"]["responses"])
    assert {"200", "400", "401", "413", "429", "500", "503"} <= documented
    assert httpx.get(gateway.url("/metrics"), headers=gateway.metrics_auth()).status_code == 200


def test_readyz_names_a_missing_provider_key(gateway_factory: GatewayFactory, stub: Any) -> None:
    gateway = gateway_factory(**wired_to(stub, openai_api_key=None))
    assert "OPENAI_API_KEY" in assert_error(httpx.get(gateway.url("/readyz")), 503, "not_ready")


async def test_concurrent_creations_by_one_tenant_stop_at_the_limit(
    gateway: RunningGateway,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        answers = await asyncio.gather(
            *(
                http.post(gateway.url("/realtime_session"), json=BODY, headers=gateway.auth())
                for _ in range(12)
            )
        )
    assert sorted(a.status_code for a in answers) == [200] * 3 + [429] * 9


def test_a_body_that_drips_in_too_slowly_is_408(gateway_factory: GatewayFactory, stub: Any) -> None:
    import socket

    gateway = gateway_factory(**wired_to(stub, body_timeout=0.5))
    port = int(gateway.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /realtime_session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {gateway.tenant_key}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{"model": '
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b'"error_code":"request_timeout"' in body


def test_cors_only_for_configured_origins(gateway_factory: GatewayFactory, stub: Any) -> None:
    closed = gateway_factory(**wired_to(stub))
    opened = gateway_factory(**wired_to(stub, cors_origins=["https://console.example"]))

    def preflight(gateway: RunningGateway, origin: str) -> httpx.Response:
        return httpx.options(
            gateway.url("/realtime_session"),
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    allowed = preflight(opened, "https://console.example")
    assert allowed.headers.get("access-control-allow-origin") == "https://console.example"
    refused = preflight(opened, "https://evil.example")
    assert "access-control-allow-origin" not in refused.headers
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {
        "error_code": "invalid_request",
        "message": "CORS preflight refused: origin not allowed",
    }
    assert "access-control-allow-origin" not in preflight(closed, "https://console.example").headers
    answer = post(opened, headers={"Origin": "https://console.example"})
    assert answer.headers["access-control-allow-origin"] == "https://console.example"
    assert "ratelimit" in answer.headers["access-control-expose-headers"].lower()


def test_ui_page_may_only_talk_to_the_gateway_and_allowed_providers(
    gateway: RunningGateway, stub: Any
) -> None:
    page = httpx.get(gateway.url("/"))
    policy = page.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["connect-src"].split() == ["'self'", stub.base_url]
    assert directives["default-src"] == "'self'"
    assert directives["form-action"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_every_answer_carries_nosniff_and_a_policy(gateway: RunningGateway) -> None:
    """Not only the page: its scripts carry the page's policy, and what is not the page (JSON,
    errors, the hot routes' answers) a policy that lets nothing run or frame it."""
    page_policy = httpx.get(gateway.url("/")).headers["content-security-policy"]
    script = httpx.get(gateway.url("/web/app.js"))
    assert script.status_code == 200
    assert script.headers["content-security-policy"] == page_policy
    for answer in (
        httpx.get(gateway.url("/healthz")),
        httpx.get(gateway.url("/no-such-route")),
        post(gateway),  # the hot route, served before FastAPI's stack
        post(gateway, headers={"Authorization": "Bearer nope"}),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_oversized_headers_are_refused_before_any_route(gateway: RunningGateway) -> None:
    huge = {"X-Padding": "a" * (17 * 1024)}
    for answer in (
        httpx.get(gateway.url("/healthz"), headers=huge),
        post(gateway, headers=huge),
    ):
        assert "16384 bytes" in assert_error(answer, 431, "headers_too_large")
    assert httpx.get(gateway.url("/healthz"), headers={"X-Padding": "a" * 8000}).status_code == 200
