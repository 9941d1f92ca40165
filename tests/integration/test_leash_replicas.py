"""Two `serve` processes on one real redis-server, in brokered mode in front of the stub: the
replica that created a call is stopped right after the call connected, and the other replica
takes its sideband over and hangs the call up at its deadline; the ledger counts the call once.

Stopped two ways: SIGKILL (no clean-up: the lease lapses) and SIGTERM (a graceful stop: the
replica lets its leases go as it exits, and exits 0)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub, call_stub

ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
WAIT = 30.0
MAX_CALL_SECONDS = 8  # longer than a sideband lease (5 s), so the takeover comes first


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
async def test_a_call_is_hung_up_at_its_deadline_after_its_replica_is_stopped(
    stub: RunningStub, redis_url: str, tmp_path: Path, stop_signal: signal.Signals
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
                # SIGKILL: no clean-up, its lease and its reaper gone with it. SIGTERM: it
                # finishes what it holds and lets the lease go.
                assert first.process is not None
                first.process.send_signal(stop_signal)
                exit_code = await asyncio.to_thread(first.process.wait, WAIT)

                async with asyncio.timeout(WAIT):
                    while not stub_call.ended:
                        await asyncio.sleep(0.1)
                state = (await http.get(second.base_url + location, headers=ACME)).json()
                usage = (await http.get(second.base_url + "/usage", headers=ACME)).json()
            finally:
                await caller.pc.close()
    assert exit_code == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)
    if stop_signal == signal.SIGTERM:  # a graceful stop leaves no task failing on its own
        assert "Traceback" not in first.output(), first.output()[-2000:]
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
    # The stopped replica ended nothing: a graceful stop hands live calls over, never ends them.
    first_audit = (tmp_path / "first.jsonl").read_text().splitlines()
    assert not [line for line in first_audit if json.loads(line).get("event") == "call.ended"]
