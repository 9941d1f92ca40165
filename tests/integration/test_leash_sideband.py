"""The sideband watcher against the offline stub and a real redis-server: usage read from the
provider's sideband reaches the ledger (Realtime tokens, Live audio seconds), a call the
provider ends is recorded `provider_closed`, and a sideband lease passes to another replica
only once it lapses."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from realtime_gateway.gateway.leash.lease import RedisLeases
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.stub import Caller, RunningStub, call_stub

WAIT = 20.0


def leashed(gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str) -> RunningGateway:
    return gateway_factory(
        **wired_to(stub, call_mode="brokered", redis_url=redis_url, rate_limit="100/minute")
    )


async def start_call(
    http: httpx.AsyncClient, gateway: RunningGateway, model: str
) -> tuple[Caller, str, str]:
    minted = await http.post(
        "/realtime_session", json={"model": model, "voice": "verse"}, headers=gateway.auth()
    )
    token: str = minted.json()["session"]["client_secret"]["value"]
    caller = await call_stub(gateway.url("/realtime_calls"), token, tone_seconds=0.5)
    assert caller.answer_response is not None
    return caller, caller.answer_response.headers["location"], token


async def until_ended(http: httpx.AsyncClient, location: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with asyncio.timeout(WAIT):
        while (state := (await http.get(location, headers=headers)).json())["status"] == "live":
            await asyncio.sleep(0.1)
    return state


async def hang_up_at_the_provider(stub: RunningStub, path: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            stub.base_url + path, headers={"Authorization": f"Bearer {stub.api_key}"}
        )
        assert answer.status_code == 200, answer.text


async def test_realtime_tokens_reach_the_ledger_and_a_provider_hang_up_is_provider_closed(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        caller, location, token = await start_call(http, gateway, "gpt-realtime")
        try:
            [stub_call] = stub.state.calls
            async with asyncio.timeout(WAIT):  # the gateway holds the call's sideband
                while stub_call.sidebands_attached < 1:
                    await asyncio.sleep(0.05)
            await caller.wait_for_event("input_audio_buffer.speech_stopped", timeout=10)
            caller.send({"type": "response.create"})
            await caller.wait_for_event("response.done", timeout=WAIT)
            await hang_up_at_the_provider(stub, f"/v1/realtime/calls/{stub_call.call_id}/hangup")
            state = await until_ended(http, location, token)
        finally:
            await caller.pc.close()
        [done] = [event for event in caller.events if event["type"] == "response.done"]
        usage = done["response"]["usage"]
        assert state["ended_reason"] == "provider_closed"
        assert stub_call.sidebands_attached == 1  # one holder, never two
        ledger = (await http.get("/usage", headers=gateway.auth())).json()["today"]
        assert ledger["calls"] == 1
        assert ledger["tokens"] == {
            "input": usage["input_tokens"],
            "output": usage["output_tokens"],
        }
        assert usage["output_tokens"] > 0


async def test_live_audio_seconds_come_from_the_provider(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        caller, location, token = await start_call(http, gateway, "gpt-live-1")
        try:
            await caller.wait_for_event("session.usage.updated", count=2, timeout=WAIT)
            [stub_call] = stub.state.calls
            await hang_up_at_the_provider(stub, f"/v1/live/sessions/{stub_call.call_id}/hangup")
            state = await until_ended(http, location, token)
            await caller.wait_for_event("session.closed", timeout=10)
        finally:
            await caller.pc.close()
        assert state["ended_reason"] == "provider_closed"
        [closed] = [event for event in caller.events if event["type"] == "session.closed"]
        ledger = (await http.get("/usage", headers=gateway.auth())).json()["today"]
        # The provider's own account of the call, to the second.
        assert ledger["audio_seconds"] == closed["usage"]["seconds"] >= 2


async def test_a_sideband_lease_passes_on_only_when_it_lapses(redis_url: str) -> None:
    client = make_client(redis_url)
    try:
        first = RedisLeases(client, lease_seconds=0.5)
        second = RedisLeases(client, lease_seconds=0.5)
        assert await first.take("acme", "call_1")
        assert not await second.take("acme", "call_1")
        await asyncio.sleep(0.3)
        assert await first.renew("acme", "call_1")  # renewed: still the first's
        await asyncio.sleep(0.3)
        assert not await second.take("acme", "call_1")
        await second.let_go("acme", "call_1")  # not the holder: changes nothing
        assert not await second.take("acme", "call_1")
        await asyncio.sleep(0.6)  # the first stops renewing, as a killed replica would
        assert await second.take("acme", "call_1")
        assert not await first.renew("acme", "call_1")  # a late renewal cannot steal it back
    finally:
        await client.aclose()
