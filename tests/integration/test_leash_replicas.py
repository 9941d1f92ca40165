"""Two `serve` processes on one real redis-server, in brokered mode in front of the stub: the
replica that created a call is killed with SIGKILL right after the call connected, and the other
replica takes its sideband over once the lease lapses and hangs the call up at its deadline;
the ledger counts the call once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import httpx

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub, call_stub

ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
WAIT = 30.0
MAX_CALL_SECONDS = 8  # longer than a sideband lease (5 s), so the takeover comes first


async def test_a_call_is_hung_up_at_its_deadline_after_its_replica_is_killed(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_MAX_CALL_SECONDS": str(MAX_CALL_SECONDS),
    }
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(
            gateway_process(tmp_path, env, GATEWAY_AUDIT_LOG=str(tmp_path / "first.jsonl"))
        )
        second = stack.enter_context(
            gateway_process(tmp_path, env, GATEWAY_AUDIT_LOG=str(tmp_path / "second.jsonl"))
        )
        async with httpx.AsyncClient(timeout=WAIT) as http:
            minted = await http.post(
                first.base_url + "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers=ACME,
            )
            token = minted.json()["session"]["client_secret"]["value"]
            caller = await call_stub(first.base_url + "/realtime_calls", token, tone_seconds=0.3)
            try:
                assert caller.answer_response is not None
                location = caller.answer_response.headers["location"]
                [stub_call] = stub.state.calls
                async with asyncio.timeout(WAIT):
                    while stub_call.sidebands_attached < 1:
                        await asyncio.sleep(0.05)
                first.kill()  # SIGKILL: no clean-up, its lease and its reaper gone with it

                async with asyncio.timeout(WAIT):
                    while not stub_call.ended:
                        await asyncio.sleep(0.1)
                state = (await http.get(second.base_url + location, headers=ACME)).json()
                usage = (await http.get(second.base_url + "/usage", headers=ACME)).json()
            finally:
                await caller.pc.close()
    assert stub_call.sidebands_attached == 2  # the second replica took the sideband over
    assert stub_call.end_reason == "hangup"  # hung up at the provider, not timed out there
    assert state["status"] == "ended" and state["ended_reason"] == "max_duration"
    assert usage["today"]["calls"] == 1 and usage["live_calls"] == 0
    assert MAX_CALL_SECONDS <= usage["today"]["audio_seconds"] < MAX_CALL_SECONDS + 3
    ends = [
        line
        for line in (tmp_path / "second.jsonl").read_text().splitlines()
        if json.loads(line).get("event") == "call.ended"
    ]
    assert len(ends) == 1
