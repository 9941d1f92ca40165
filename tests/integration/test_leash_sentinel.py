"""Brokered calls across a Sentinel failover: live calls on a master + replica + 3 sentinels,
the master killed (SIGKILL). The calls created before the kill are still listed, still hung up
at their deadline and counted once; creations resume on the promoted replica; and a call is not
answered until the replica holds it (`GATEWAY_REDIS_WAIT_REPLICAS`), so a kill right after the
answer loses nothing."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from pathlib import Path

import httpx

from realtime_gateway.gateway.calls.redis_store import TenantKeys
from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.redis_topologies import SentinelSet
from tests.fixtures.stub import RunningStub
from tests.integration.test_leash_brokered import offer_sdp

BODY = {"model": "gpt-realtime", "voice": "verse"}
ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
WAIT = 30.0
MAX_CALL_SECONDS = 7  # past the failover (about 2 s), so the promoted replica's reaper ends them


async def create_call(http: httpx.AsyncClient, replica: GatewayProcess, sdp: str) -> httpx.Response:
    minted = await http.post(replica.base_url + "/realtime_session", json=BODY, headers=ACME)
    if minted.status_code != 200:
        return minted
    token = minted.json()["session"]["client_secret"]["value"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    return await http.post(replica.base_url + "/realtime_calls", content=sdp, headers=headers)


async def test_live_calls_survive_a_sentinel_failover(
    stub: RunningStub, sentinel_set: SentinelSet, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_SENTINELS": sentinel_set.setting,
        "GATEWAY_REDIS_SENTINEL_MASTER": sentinel_set.name,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "1000/minute",
        "GATEWAY_LIMITER_FAILURE_MODE": "deny",
        "GATEWAY_MAX_CALL_SECONDS": str(MAX_CALL_SECONDS),
        "GATEWAY_MAX_CONCURRENT_CALLS": "10",
        # GATEWAY_REDIS_WAIT_REPLICAS: its default with Sentinel, 1
        "GATEWAY_REDIS_WAIT_MS": "300",
        "GATEWAY_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    sdp = await offer_sdp()
    with gateway_process(tmp_path, env) as replica:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            first = await create_call(http, replica, sdp)
            assert first.status_code == 201, first.text

            # The replica stops reading its master: the next call is not answered while the
            # only copy of its admission and record is on the master.
            sentinel_set.replica.process.send_signal(signal.SIGSTOP)
            try:
                pending = asyncio.ensure_future(create_call(http, replica, sdp))
                await asyncio.sleep(0.3)
                assert not pending.done(), "answered before the replica held the call"
            finally:
                sentinel_set.replica.process.send_signal(signal.SIGCONT)
            second = await pending
            assert second.status_code == 201, second.text
            sentinel_set.master.kill()  # at once: the answer was the last thing before
            killed = time.monotonic()

            # Creations fail closed (503) until the sentinels promote the replica.
            refused: set[str] = set()
            async with asyncio.timeout(WAIT):
                while (third := await create_call(http, replica, sdp)).status_code != 201:
                    assert third.status_code == 503, third.text
                    refused.add(third.json()["error_code"])
                    await asyncio.sleep(0.05)
            resumed = time.monotonic() - killed
            print(f"\ncreations resumed {resumed:.2f} s after the master's SIGKILL")
            assert refused <= {"limiter_unavailable", "calls_unavailable"}
            assert sentinel_set.master_port() == sentinel_set.replica.port

            created = [first, second, third]
            ids = {answer.headers["location"].rsplit("/", 1)[1] for answer in created}
            listed = (await http.get(replica.base_url + "/realtime_calls", headers=ACME)).json()
            assert {call["id"] for call in listed["calls"]} == ids  # none lost in the failover

            async with asyncio.timeout(WAIT):
                while not all(call.ended for call in stub.state.calls):
                    await asyncio.sleep(0.1)
            for answer in created:
                state = await http.get(replica.base_url + answer.headers["location"], headers=ACME)
                assert state.json()["ended_reason"] == "max_duration", state.text
            usage = (await http.get(replica.base_url + "/usage", headers=ACME)).json()
    assert len(stub.state.calls) == 3  # each call created once upstream
    assert set(stub.state.end_reasons().values()) == {"hangup"}  # by the gateway, at its deadline
    assert usage["today"]["calls"] == 3 and usage["live_calls"] == 0
    ends = [
        json.loads(line)
        for line in (tmp_path / "audit.jsonl").read_text().splitlines()
        if '"call.ended"' in line
    ]
    assert sorted(end["call_id"] for end in ends) == sorted(ids)  # each counted once
    with sentinel_set.replica.client() as new_master:
        ledger = new_master.hgetall(TenantKeys("acme").ledger)
    assert sum(int(v) for k, v in ledger.items() if re.fullmatch(rb"\d+:calls", k)) == 3
