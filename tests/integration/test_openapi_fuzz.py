"""schemathesis against the gateway's own /openapi.json, served by a real gateway on 127.0.0.1
wired to the stub: every answer is a documented success or the documented error body."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.stub import RunningStub

CASES_PER_MODE = int(os.environ.get("RTG_FUZZ_CASES", "150"))
ERROR_CODES = {
    400: {"invalid_request"},
    401: {"unauthorized"},
    403: {"transfer_not_allowed"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    413: {"payload_too_large"},
    429: {"rate_limited", "too_many_calls", "quota_exceeded"},
    500: {"provider_error"},
    503: {"limiter_unavailable", "not_ready", "calls_unavailable"},
}
ANY_ROUTE = {404, 405, 413}  # "the usual", on any route (DESIGN section 2)


@pytest.fixture
def fuzzed(gateway_factory: GatewayFactory, stub: RunningStub) -> RunningGateway:
    return gateway_factory(**wired_to(stub, rate_limit="100000/minute"))


def header(response: Any, name: str) -> str | None:
    """schemathesis' Response keeps headers as lower-case names to lists of values."""
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


def check_answer(case: Any, response: Any) -> None:
    status = response.status_code
    documented = {int(code) for code in case.operation.definition.raw["responses"]}
    where = f"{case.method} {case.path} -> {status}: {response.text[:300]}"
    assert status in documented | ANY_ROUTE, f"undocumented status: {where}"
    if status >= 400:
        body = response.json()
        if case.path.startswith("/v1/"):  # OpenAI's shape, our code as `code`
            assert set(body) == {"error"}, f"not OpenAI's error body: {where}"
            assert set(body["error"]) == {"message", "type", "code", "param"}, where
            code, message = body["error"]["code"], body["error"]["message"]
        else:
            assert set(body) == {"error_code", "message"}, f"not the error body: {where}"
            code, message = body["error_code"], body["message"]
        assert code in ERROR_CODES[status], where
        assert isinstance(message, str) and message, where
        if status >= 500 and code == "provider_error":
            assert message.startswith("OpenAI "), where
        if status == 401:
            assert header(response, "WWW-Authenticate") == "Bearer"
    elif case.path == "/realtime_session":
        session = response.json()["session"]
        assert session["client_secret"]["value"] and session["id"] and session["webrtc_url"]
        assert session["expires_at"].endswith("Z")
        assert header(response, "Cache-Control") == "no-store"


def fuzz(gateway: RunningGateway, mode: GenerationMode, headers: dict[str, str]) -> dict[int, int]:
    schema = schemathesis.openapi.from_url(gateway.url("/openapi.json"))
    statuses: dict[int, int] = {}

    @settings(
        max_examples=CASES_PER_MODE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=schema.as_strategy(mode, headers=headers))
    def run(case: Any) -> None:
        response = case.call(base_url=gateway.base_url, timeout=10)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        check_answer(case, response)

    run()
    return statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(
    fuzzed: RunningGateway, mode: GenerationMode
) -> None:
    statuses = fuzz(fuzzed, mode, fuzzed.auth())
    print(f"schemathesis {mode.value}: {sum(statuses.values())} cases, statuses {statuses}")
    assert sum(statuses.values()) >= CASES_PER_MODE // 2
    if mode is GenerationMode.POSITIVE:
        assert statuses.get(200, 0) > 0  # minting really happened against the stub
        assert 500 not in statuses  # a well-formed request never meets a gateway 5xx


def test_without_credentials_every_mint_is_unauthorized(fuzzed: RunningGateway) -> None:
    statuses = fuzz(fuzzed, GenerationMode.POSITIVE, {"Authorization": "Bearer not-a-tenant"})
    print(f"schemathesis unauthenticated: {sum(statuses.values())} cases, statuses {statuses}")
    assert 401 in statuses and 500 not in statuses


def test_huge_json_integer_is_a_400_not_a_500(fuzzed: RunningGateway) -> None:
    # Python refuses to convert integers of over 4300 digits with ValueError (not
    # JSONDecodeError); a 5 KB body is well under the 16 KiB limit.
    response = httpx.post(
        fuzzed.url("/realtime_session"),
        content=b'{"model": ' + b"1" * 5000 + b', "voice": "verse"}',
        headers={**fuzzed.auth(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "invalid_request"


def test_openapi_documents_the_error_body(fuzzed: RunningGateway) -> None:
    document = httpx.get(fuzzed.url("/openapi.json"), timeout=10).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if int(status) < 400:
                    continue
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                assert schema is not None, f"{method.upper()} {path} {status}: no error schema"
                if "$ref" in schema:
                    schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
                if path.startswith("/v1/"):  # OpenAI's shape there
                    assert set(schema["required"]) == {"error"}, f"{method.upper()} {path}"
                else:
                    assert set(schema["required"]) == {"error_code", "message"}, path
