"""The whole fault matrix against a gateway process, then a grep of everything it wrote and
answered: the provider key, the tenant keys and every minted client secret appear nowhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import openai
from openai import AsyncOpenAI

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
from tests.fixtures.stub import RunningStub, new_caller

ACME_KEY = "rtg_leakcheck_acme_5b0c1d7e9f2a4c6e"
GLOBEX_KEY = "rtg_leakcheck_globex_8d3f6a1b4e7c0f2d"
UNKNOWN_KEY = "rtg_leakcheck_unknown_1a2b3c4d5e6f7a8b"
BODY = {"model": "gpt-realtime", "voice": "verse"}
V1_SESSION = {"type": "realtime", "model": "gpt-realtime"}


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


async def test_no_v1_answer_or_log_holds_a_key_or_a_provider_handle(
    tmp_path: Path, stub: RunningStub
) -> None:
    """Every `/v1` route, served and refused, through the official SDK: neither the provider
    key, nor a tenant key, nor the provider's own call ids appear in any answer; nothing but
    the provider's call ids (kept in the call record) appears in the logs."""
    answers: list[str] = []

    def keep(response: httpx.Response) -> None:
        answers.append(str(response.headers) + response.text)

    hooks = {"response": [_kept(keep)]}
    audit_file = tmp_path / "audit.jsonl"
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY=stub.api_key,
        GATEWAY_API_KEYS=f"acme:{ACME_KEY},globex:{GLOBEX_KEY}",
        GATEWAY_PROVIDER_ENDPOINT=stub.ga_endpoint,
        GATEWAY_ALLOWED_ENDPOINTS=stub.ga_endpoint,
        GATEWAY_TENANT_POLICIES='{"acme": {"refer_targets": ["tel:+15550001111"]}}',
        GATEWAY_AUDIT_LOG=str(audit_file),
    ) as gateway:
        base = gateway.base_url + "/v1"

        def client(key: str) -> AsyncOpenAI:
            http = httpx.AsyncClient(event_hooks=hooks, timeout=10)
            return AsyncOpenAI(base_url=base, api_key=key, max_retries=0, http_client=http)

        acme = client(ACME_KEY)
        secret = await acme.realtime.client_secrets.create(session=V1_SESSION)  # type: ignore[arg-type]
        callers = [await new_caller(tone_seconds=0.0) for _ in range(3)]
        try:
            by_token = await client(secret.value).realtime.calls.with_raw_response.create(
                sdp=callers[0].pc.localDescription.sdp
            )
            by_tenant = await acme.realtime.calls.with_raw_response.create(
                sdp=callers[1].pc.localDescription.sdp,
                session=V1_SESSION,  # type: ignore[arg-type]
            )
            live = await acme.live.create(
                session={"model": "gpt-live-1"},  # type: ignore[typeddict-item]
                transport={"type": "webrtc", "sdp": callers[2].pc.localDescription.sdp},
            )
            answers.append(live.model_dump_json())
            refusals: list[type[Exception]] = []
            for attempt in (
                client(UNKNOWN_KEY).realtime.client_secrets.create(session=V1_SESSION),  # type: ignore[arg-type]
                client(secret.value).realtime.calls.create(sdp=callers[0].pc.localDescription.sdp),
                acme.realtime.calls.refer(
                    by_tenant.headers["location"].rsplit("/", 1)[-1], target_uri="tel:+1900"
                ),
                client(GLOBEX_KEY).realtime.calls.hangup(
                    by_tenant.headers["location"].rsplit("/", 1)[-1]
                ),
            ):
                try:
                    await attempt
                except openai.APIStatusError as error:
                    refusals.append(type(error))
            assert refusals == [
                openai.AuthenticationError,
                openai.AuthenticationError,
                openai.PermissionDeniedError,
                openai.NotFoundError,
            ]
            for raw in (by_token, by_tenant):
                await acme.realtime.calls.hangup(raw.headers["location"].rsplit("/", 1)[-1])
            await acme.live.sessions.hangup(live.session.id)
        finally:
            for caller in callers:
                await caller.close()
    provider_ids = [call.call_id for call in stub.state.calls]
    assert len(provider_ids) == 3
    written = gateway.output() + audit_file.read_text()
    assert written.count('"outcome"') >= 3  # the audit did say something
    for text in answers:
        for name, needle in {
            "provider key": stub.api_key,
            "acme key": ACME_KEY,
            "globex key": GLOBEX_KEY,
            **{f"provider call id {i}": pid for i, pid in enumerate(provider_ids)},
        }.items():
            assert needle not in text, f"{name} is in an answer: {text[:200]}"
    for needle in (stub.api_key, ACME_KEY, GLOBEX_KEY, UNKNOWN_KEY, secret.value):
        assert needle not in written


def _kept(keep: Callable[[httpx.Response], None]) -> Callable[[httpx.Response], Awaitable[None]]:
    async def hook(response: httpx.Response) -> None:
        await response.aread()
        keep(response)

    return hook
