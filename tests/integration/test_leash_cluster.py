"""Brokered calls and the leash on a real 3-master Redis Cluster, through two `serve` replicas in
front of the stub: tenants whose keys live on three different masters, a token minted on one
replica redeemed on the other, the live-call cap exact under concurrent creations across both,
and a call hung up at its deadline by a reaper and counted once in the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import httpx

from realtime_gateway.gateway.calls.redis_store import TenantKeys
from realtime_gateway.gateway.redisconn import tenant_key
from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.redis_topologies import RedisClusterNodes
from tests.fixtures.stub import RunningStub
from tests.integration.test_leash_brokered import offer_sdp

BODY = {"model": "gpt-realtime", "voice": "verse"}
WAIT = 30.0
# Three tenants whose hash tags fall in the three slot ranges `redis-cli --cluster create`
# gives three masters (0-5460, 5461-10922, 10923-16383): {hooli} 4703, {stark} 9341, {acme} 11304.
TENANTS = {
    "hooli": "rtg_test_hooli_key_1111111111",
    "stark": "rtg_test_stark_key_2222222222",
    "acme": "rtg_test_acme_key_0123456789",
}
MAX_CALLS = 2
MAX_CALL_SECONDS = 3


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANTS[tenant]}"}


async def mint(http: httpx.AsyncClient, replica: GatewayProcess, tenant: str) -> str:
    answer = await http.post(
        replica.base_url + "/realtime_session", json=BODY, headers=auth(tenant)
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["session"]["client_secret"]["value"]
    return token


async def offer(
    http: httpx.AsyncClient, replica: GatewayProcess, token: str, sdp: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    return await http.post(replica.base_url + "/realtime_calls", content=sdp, headers=headers)


async def test_brokered_calls_and_the_leash_on_a_three_master_cluster(
    stub: RunningStub, cluster: RedisClusterNodes, tmp_path: Path
) -> None:
    owners = {tenant: cluster.owner_of(tenant_key(tenant, "x")).port for tenant in TENANTS}
    assert len(set(owners.values())) == 3  # one tenant per master
    env = {
        "GATEWAY_API_KEYS": ",".join(f"{t}:{k}" for t, k in TENANTS.items()),
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_CLUSTER_NODES": cluster.setting,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "1000/minute",
        "GATEWAY_MAX_CONCURRENT_CALLS": str(MAX_CALLS),
        "GATEWAY_MAX_CALL_SECONDS": str(MAX_CALL_SECONDS),
        "GATEWAY_LIMITER_FAILURE_MODE": "deny",
    }
    sdp = await offer_sdp()
    with contextlib.ExitStack() as stack:
        replicas = [
            stack.enter_context(
                gateway_process(tmp_path, env, GATEWAY_AUDIT_LOG=str(tmp_path / f"{i}.jsonl"))
            )
            for i in range(2)
        ]
        first, second = replicas
        async with httpx.AsyncClient(timeout=WAIT) as http:
            # Per tenant: 8 tokens minted on alternating replicas, each redeemed on the other
            # replica, all at once: exactly MAX_CALLS calls pass, across both replicas.
            tokens = {
                tenant: [await mint(http, replicas[i % 2], tenant) for i in range(8)]
                for tenant in TENANTS
            }
            answers = await asyncio.gather(
                *(
                    offer(http, replicas[(i + 1) % 2], token, sdp)
                    for tenant in TENANTS
                    for i, token in enumerate(tokens[tenant])
                )
            )
            by_tenant = {tenant: answers[8 * n : 8 * n + 8] for n, tenant in enumerate(TENANTS)}
            for tenant, tenant_answers in by_tenant.items():
                codes = sorted(answer.status_code for answer in tenant_answers)
                assert codes == [201] * MAX_CALLS + [429] * (8 - MAX_CALLS), (tenant, codes)
                refused = {a.json()["error_code"] for a in tenant_answers if a.status_code == 429}
                assert refused == {"too_many_calls"}
            assert len(stub.state.calls) == 3 * MAX_CALLS  # refused calls never reached it

            # A used token is used up on both replicas (a refused one stays good: it is the
            # redeemed one that must not pass twice).
            redeemed = next(
                token
                for token, answer in zip(tokens["acme"], by_tenant["acme"], strict=True)
                if answer.status_code == 201
            )
            used = await offer(http, second, redeemed, sdp)
            assert used.status_code == 401

            # Both replicas list each tenant's calls (records and live sets on its master).
            for tenant in TENANTS:
                for replica in replicas:
                    listed = await http.get(
                        replica.base_url + "/realtime_calls", headers=auth(tenant)
                    )
                    assert len(listed.json()["calls"]) == MAX_CALLS
                    usage = (
                        await http.get(replica.base_url + "/usage", headers=auth(tenant))
                    ).json()
                    assert usage["live_calls"] == MAX_CALLS

            # The reapers hang every call up at its deadline, at the provider, once.
            async with asyncio.timeout(WAIT):
                while not all(call.ended for call in stub.state.calls):
                    await asyncio.sleep(0.1)
            for tenant in TENANTS:
                usage = (await http.get(first.base_url + "/usage", headers=auth(tenant))).json()
                assert usage["today"]["calls"] == MAX_CALLS and usage["live_calls"] == 0
                assert usage["today"]["audio_seconds"] >= MAX_CALLS * MAX_CALL_SECONDS
                for answer in by_tenant[tenant]:
                    if answer.status_code == 201:
                        location = second.base_url + answer.headers["location"]
                        state = (await http.get(location, headers=auth(tenant))).json()
                        assert state["status"] == "ended", state
                        assert state["ended_reason"] == "max_duration", state

            # The slots freed, a new call passes again.
            again = await offer(http, first, await mint(http, second, "stark"), sdp)
            assert again.status_code == 201, again.text
    assert set(stub.state.end_reasons().values()) <= {"hangup", None}
    # Each call's end counted by exactly one replica's reaper (one audit line in all).
    ends = [
        line
        for i in range(2)
        for line in (tmp_path / f"{i}.jsonl").read_text().splitlines()
        if '"call.ended"' in line
    ]
    assert len(ends) == 3 * MAX_CALLS
    # Every tenant's state sits whole on the master that owns its slot.
    for tenant, port in owners.items():
        owner = next(node for node in cluster.masters if node.port == port)
        with owner.client() as client:
            assert client.exists(TenantKeys(tenant).ledger) == 1
            for answer in by_tenant[tenant]:
                if answer.status_code == 201:
                    call_id = answer.headers["location"].rsplit("/", 1)[1]
                    assert client.exists(TenantKeys(tenant).call(call_id)) == 1
    # Every key the gateway wrote, on every master, carries a hash tag (one slot per script).
    written = [key for node in cluster.masters for key in keys_of(node)]
    assert written and all(HASH_TAG.search(key) for key in written), written


HASH_TAG = re.compile(r"\{[^{}]+\}")


def keys_of(node: Any) -> list[str]:
    with node.client() as client:
        return [key.decode() if isinstance(key, bytes) else key for key in client.scan_iter()]
