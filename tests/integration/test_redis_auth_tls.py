"""Credentials and TLS on Cluster and Sentinel, with real servers: a password-protected 3-master
cluster, a password-protected master + replica behind password-protected sentinels, and a
TLS-only cluster. Each works end to end (limiter, brokered call, leash) with the right settings;
without them the gateway still starts, answers 503 as the failure mode `deny` says, and
`/readyz` says why, never echoing a password."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.redis_topologies import redis_cluster, redis_sentinel
from tests.fixtures.stub import RunningStub
from tests.integration.test_leash_brokered import offer_sdp

BODY = {"model": "gpt-realtime", "voice": "verse"}
ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
PASSWORD = "pw-redis-3c9f1a7e5d2b"
SENTINEL_PASSWORD = "pw-sentinel-8b6d4f2a0c"
WRONG_PASSWORD = "pw-wrong-1e3c5a7f9b0d"


def base_env(stub: RunningStub, tmp_path: Path) -> dict[str, str]:
    return {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_LIMITER_FAILURE_MODE": "deny",
        "GATEWAY_RATE_LIMIT": "100/minute",
    }


async def assert_works(http: httpx.AsyncClient, replica: GatewayProcess, sdp: str) -> None:
    """Ready on Redis; a token minted, a call created, listed and hung up."""
    ready = await http.get(replica.base_url + "/readyz")
    assert ready.status_code == 200, ready.text
    minted = await http.post(replica.base_url + "/realtime_session", json=BODY, headers=ACME)
    assert minted.status_code == 200, minted.text
    token = minted.json()["session"]["client_secret"]["value"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    created = await http.post(replica.base_url + "/realtime_calls", content=sdp, headers=headers)
    assert created.status_code == 201, created.text
    listed = await http.get(replica.base_url + "/realtime_calls", headers=ACME)
    assert len(listed.json()["calls"]) == 1
    ended = await http.delete(replica.base_url + created.headers["location"], headers=ACME)
    assert ended.json()["ended_reason"] == "caller_hangup"
    usage = (await http.get(replica.base_url + "/usage", headers=ACME)).json()
    assert usage["today"]["calls"] == 1


async def assert_refused(
    http: httpx.AsyncClient, replica: GatewayProcess, why: str, *secrets: str
) -> None:
    """Not ready, saying `why`; creations fail closed with 503; no secret in any answer or log."""
    ready = await http.get(replica.base_url + "/readyz")
    assert ready.status_code == 503 and ready.json()["error_code"] == "not_ready"
    assert why in ready.json()["message"], ready.text
    minted = await http.post(replica.base_url + "/realtime_session", json=BODY, headers=ACME)
    assert minted.status_code == 503, minted.text
    assert minted.json()["error_code"] == "limiter_unavailable"
    for secret in secrets:
        assert secret not in ready.text + minted.text + replica.output()


async def test_a_password_protected_cluster(stub: RunningStub, tmp_path: Path) -> None:
    sdp = await offer_sdp()
    with redis_cluster(password=PASSWORD) as cluster, contextlib.ExitStack() as stack:
        env = {**base_env(stub, tmp_path), "GATEWAY_REDIS_CLUSTER_NODES": cluster.setting}
        right = stack.enter_context(gateway_process(tmp_path, env, GATEWAY_REDIS_PASSWORD=PASSWORD))
        without = stack.enter_context(gateway_process(tmp_path, env))
        wrong = stack.enter_context(
            gateway_process(tmp_path, env, GATEWAY_REDIS_PASSWORD=WRONG_PASSWORD)
        )
        async with httpx.AsyncClient(timeout=20) as http:
            await assert_works(http, right, sdp)
            await assert_refused(http, without, "refused the credentials")
            await assert_refused(http, wrong, "refused the credentials", WRONG_PASSWORD)
        assert PASSWORD not in right.output()


async def test_a_password_protected_sentinel_set(stub: RunningStub, tmp_path: Path) -> None:
    sdp = await offer_sdp()
    with (
        redis_sentinel(password=PASSWORD, sentinel_password=SENTINEL_PASSWORD) as topology,
        contextlib.ExitStack() as stack,
    ):
        env = {
            **base_env(stub, tmp_path),
            "GATEWAY_REDIS_SENTINELS": topology.setting,
            "GATEWAY_REDIS_SENTINEL_MASTER": topology.name,
        }
        right = stack.enter_context(
            gateway_process(
                tmp_path,
                env,
                GATEWAY_REDIS_PASSWORD=PASSWORD,
                GATEWAY_REDIS_SENTINEL_PASSWORD=SENTINEL_PASSWORD,
            )
        )
        wrong = stack.enter_context(
            gateway_process(
                tmp_path,
                env,
                GATEWAY_REDIS_PASSWORD=WRONG_PASSWORD,
                GATEWAY_REDIS_SENTINEL_PASSWORD=SENTINEL_PASSWORD,
            )
        )
        no_sentinel_password = stack.enter_context(
            gateway_process(tmp_path, env, GATEWAY_REDIS_PASSWORD=PASSWORD)
        )
        async with httpx.AsyncClient(timeout=20) as http:
            await assert_works(http, right, sdp)
            await assert_refused(http, wrong, "refused the credentials", WRONG_PASSWORD, PASSWORD)
            # Sentinels that refuse us name no master: "unreachable", and said at once (not
            # after redis-py's retries with backoff, about 7 s per sentinel).
            await assert_refused(http, no_sentinel_password, "redis unreachable", PASSWORD)
        assert SENTINEL_PASSWORD not in right.output() and PASSWORD not in right.output()


async def test_a_tls_only_cluster(stub: RunningStub, tmp_path: Path) -> None:
    sdp = await offer_sdp()
    with redis_cluster(tls=True) as cluster, contextlib.ExitStack() as stack:
        assert cluster.tls is not None
        env = {**base_env(stub, tmp_path), "GATEWAY_REDIS_CLUSTER_NODES": cluster.setting}
        tls = stack.enter_context(
            gateway_process(
                tmp_path,
                env,
                GATEWAY_REDIS_TLS="true",
                GATEWAY_REDIS_TLS_CA_FILE=str(cluster.tls.ca_file),
            )
        )
        plain = stack.enter_context(gateway_process(tmp_path, env))
        async with httpx.AsyncClient(timeout=20) as http:
            await assert_works(http, tls, sdp)
            await assert_refused(http, plain, "redis unreachable")
