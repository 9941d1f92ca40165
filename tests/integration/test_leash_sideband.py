"""The sideband watcher against the offline stub and a real redis-server: usage read from the
provider's sideband reaches the ledger (Realtime tokens, Live audio seconds), a call the
provider ends is recorded `provider_closed`, a sideband the provider refuses with 404 ends the
call, and a dead holder's calls are handed to exactly one live holder."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.redis_fleet import RedisFleet
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.leash.sideband import AiohttpSidebands
from realtime_gateway.gateway.leash.watcher import SidebandWatcher
from realtime_gateway.gateway.policy import Policies
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.call_service import RecordingProvider, make_calls
from tests.fixtures.call_stores import open_call
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


async def test_a_dead_holders_calls_are_handed_to_one_live_holder(redis_url: str) -> None:
    store = RedisCallStore(make_client(redis_url), owns_client=True)
    fleet = RedisFleet(store)
    try:
        assert (await fleet.beat("holder-a", 1000, first=True)).alive
        await fleet.touch("acme")
        held = await open_call(store, holder="holder-a")
        assert (await fleet.beat("holder-b", 10_000, first=True)).dead == []
        await asyncio.sleep(1.5)  # holder-a stops beating, as a killed process would
        handed = await fleet.beat("holder-b", 10_000)
        assert [d.holder for d in handed.dead] == ["holder-a"]
        assert (await fleet.beat("holder-c", 10_000, first=True)).dead == []  # b's to take
        [adopted] = await fleet.adopt("acme", ["holder-a"], "holder-b")
        assert (adopted.call_id, adopted.holder) == (held.call_id, "holder-b")
        assert await fleet.adopt("acme", ["holder-a"], "holder-c") == []  # taken once
        await fleet.bury("holder-a")
        assert not (await fleet.beat("holder-a", 1000)).alive  # it must join again
    finally:
        await store.aclose()


async def test_a_sideband_refused_with_404_means_the_call_is_over(
    stub: RunningStub, redis_url: str
) -> None:
    """The provider no longer knows the call (it was hung up while no sideband listened): the
    call ends once, billed up to the hang-up the gateway asked for, and nobody attaches again."""
    store = RedisCallStore(make_client(redis_url), owns_client=True)
    calls, ends = make_calls(store, RecordingProvider(), Policies())
    sidebands = AiohttpSidebands(stub.api_key)
    watcher = SidebandWatcher(calls, sidebands.open, reattach_seconds=0.05)
    calls_url = stub.ga_endpoint.replace("/client_secrets", "/calls")
    spec = CallSpec("openai", calls_url, "gpt-realtime", "verse")
    try:
        call = await open_call(store, spec=spec)  # no such call at the stub
        await store.mark_ending("acme", call.call_id, "caller_hangup", 60_000)
        await watcher.hold(call)
        async with asyncio.timeout(WAIT):
            while not ends.seen:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        [end] = ends.seen
        assert end.reason == "caller_hangup" and end.billed_ms < 1000
        assert watcher.held == set()
    finally:
        await watcher.aclose()
        await sidebands.aclose()
        await store.aclose()
