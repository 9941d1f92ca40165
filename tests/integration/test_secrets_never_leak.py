"""The whole fault matrix against a gateway process, then a grep of everything it wrote and
answered: the provider key, the tenant keys and every minted client secret appear nowhere."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fixtures.processes import gateway_process
from tests.fixtures.provider import (
    BETA,
    FAULTS,
    GA,
    PROVIDER_KEY,
    PROVIDER_TIMEOUT,
    redirect,
    reset_server,
    scripted_provider,
)
from tests.fixtures.servers import RedisServer

ACME_KEY = "rtg_leakcheck_acme_5b0c1d7e9f2a4c6e"
GLOBEX_KEY = "rtg_leakcheck_globex_8d3f6a1b4e7c0f2d"
UNKNOWN_KEY = "rtg_leakcheck_unknown_1a2b3c4d5e6f7a8b"
BODY = {"model": "gpt-realtime", "voice": "verse"}


def test_secret_not_logged_nor_answered(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    audit_file = tmp_path / "audit.jsonl"
    answers: list[str] = []
    with (
        scripted_provider() as provider,
        scripted_provider() as elsewhere,
        reset_server() as resetting,
    ):
        allowed = [provider.ga_endpoint, provider.beta_endpoint, resetting.ga_endpoint]
        with gateway_process(
            tmp_path,
            OPENAI_API_KEY=PROVIDER_KEY,
            GATEWAY_API_KEYS=f"acme:{ACME_KEY},globex:{GLOBEX_KEY}",
            GATEWAY_PROVIDER_ENDPOINT=provider.ga_endpoint,
            GATEWAY_ALLOWED_ENDPOINTS=",".join(allowed),
            GATEWAY_PROVIDER_TIMEOUT=str(PROVIDER_TIMEOUT),
            GATEWAY_RATE_LIMIT="2/minute",
            GATEWAY_TENANT_RATE_LIMITS="acme=1000/minute",
            GATEWAY_REDIS_URL=redis_url,
            GATEWAY_AUDIT_LOG=str(audit_file),
        ) as gateway:
            with httpx.Client(base_url=gateway.base_url, timeout=10) as http:

                def post(key: str, body: dict[str, str] | None = None) -> httpx.Response:
                    response = http.post(
                        "/realtime_session",
                        json=body or BODY,
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    answers.append(response.text + str(response.headers))
                    return response

                statuses: list[int] = []
                for answer, _ in FAULTS.values():
                    provider.script(answer)
                    statuses.append(post(ACME_KEY).status_code)
                provider.script(redirect(307, elsewhere.ga_endpoint))
                statuses.append(post(ACME_KEY).status_code)
                statuses.append(
                    post(ACME_KEY, {**BODY, "endpoint": resetting.ga_endpoint}).status_code
                )
                assert statuses == [500] * (len(FAULTS) + 2)

                provider.script(GA, BETA)
                assert post(ACME_KEY).status_code == 200
                assert (
                    post(ACME_KEY, {**BODY, "endpoint": provider.beta_endpoint}).status_code == 200
                )
                assert [post(GLOBEX_KEY).status_code for _ in range(3)] == [200, 200, 429]
                assert post(UNKNOWN_KEY).status_code == 401
                assert post(f"{ACME_KEY}x").status_code == 401
                assert post(ACME_KEY, {"model": "gpt-realtime", "voice": "!"}).status_code == 400

                redis_server.stop()
                try:
                    assert post(ACME_KEY).status_code == 200  # local failure mode
                    answers.append(http.get("/readyz").text)
                finally:
                    redis_server.start()
                assert post(ACME_KEY).status_code == 200

                answers.append(http.get("/metrics").text)
                answers.append(http.get("/openapi.json").text)
                answers.append(http.get("/readyz").text)
        assert elsewhere.requests == []

    written = gateway.output() + audit_file.read_text()
    minted = provider.secrets_issued
    # 6 answered, and one the hanging provider issued after the gateway had given up on it.
    assert len(minted) == 7
    needles = {"provider key": PROVIDER_KEY, "acme key": ACME_KEY, "globex key": GLOBEX_KEY}
    needles["unknown key"] = UNKNOWN_KEY
    # OpenAI echoes a refused key masked, as `sk-...abcd`: not even its tail may be logged.
    needles["masked provider key"] = f"...{PROVIDER_KEY[-4:]}"
    needles.update({f"client secret {i}": secret for i, secret in enumerate(minted)})
    # The audit and operational logs did say something: the grep is not of an empty file.
    assert written.count('"outcome"') >= 16
    assert "provider refused" in written
    print(
        f"grepped {len(written)} bytes of logs and {sum(map(len, answers))} bytes of answers "
        f"for {len(needles)} secrets"
    )
    for name, needle in needles.items():
        assert needle not in written, f"{name} is in the gateway's logs"
        if name.startswith("client secret"):
            continue  # the 200 answers carry them, as they must
        for text in answers:
            assert needle not in text, f"{name} is in an answer: {text[:200]}"
    # Only the 200 answers carry a client secret, each exactly its own, each once.
    assert sorted(sum(secret in text for text in answers) for secret in minted) == [0] + [1] * 6
