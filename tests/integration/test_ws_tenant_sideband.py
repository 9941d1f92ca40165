"""`GET /v1/realtime?call_id=<gateway call id>`: the tenant's own sideband of its brokered
WebRTC call, as the official `openai` package joins one (`realtime.connect(call_id=...)`).
Server events relayed, client events passed on within the pins, usage counted once (by the
watcher), another tenant's call not found, and the call's end closes it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.stub import RunningStub, call_stub
from tests.integration.test_stub_realtime_calls import next_of
from tests.integration.test_ws_sessions import client_of, refused, until_counted

PINNED = "You are the acme help line."


@pytest.fixture
def brokered(gateway_factory: GatewayFactory, stub: RunningStub) -> RunningGateway:
    return gateway_factory(
        **wired_to(
            stub,
            call_mode="brokered",
            tenant_policies=json.dumps({"acme": {"instructions": PINNED}}),
        )
    )


async def brokered_call(gateway: RunningGateway) -> tuple[object, str]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
        minted = await http.post(
            "/realtime_session",
            json={"model": "gpt-realtime", "voice": "verse"},
            headers=gateway.auth(),
        )
    assert minted.status_code == 200, minted.text
    session = minted.json()["session"]
    caller = await call_stub(session["webrtc_url"], session["client_secret"]["value"])
    assert caller.answer_response is not None
    location = caller.answer_response.headers["location"]
    return caller, location.rsplit("/", 1)[1]


async def test_tenant_sideband_sees_response_done_and_usage_is_counted_once(
    brokered: RunningGateway,
) -> None:
    caller, call_id = await brokered_call(brokered)
    try:
        client = client_of(brokered)
        async with client.realtime.connect(call_id=call_id) as sideband:
            await sideband.session.update(
                session={"type": "realtime", "instructions": "Be a pirate."}
            )
            updated = await next_of(sideband, "session.updated")
            assert updated.session.instructions == PINNED
            await sideband.send({"type": "response.create"})
            done = await next_of(sideband, "response.done", timeout=20)
        usage = done.response.usage
        assert usage.output_tokens > 0
        async with httpx.AsyncClient(base_url=brokered.base_url, timeout=10) as http:
            hung_up = await http.delete(f"/realtime_calls/{call_id}", headers=brokered.auth())
            assert hung_up.status_code == 200, hung_up.text
        today = await until_counted(brokered, 1)
        assert today["tokens"]["output"] == usage.output_tokens  # the watcher's one count
        assert today["by_transport"] == {"webrtc": today["by_transport"]["webrtc"]}
    finally:
        await caller.close()  # type: ignore[attr-defined]


async def test_another_tenants_call_is_not_found_and_the_end_closes_the_sideband(
    brokered: RunningGateway,
) -> None:
    caller, call_id = await brokered_call(brokered)
    try:
        other = {"Authorization": f"Bearer {brokered.other_tenant_key}"}
        status, body = await refused(brokered, f"call_id={call_id}", additional_headers=other)
        assert (status, body["error"]["code"]) == (404, "not_found")
        status, _ = await refused(brokered, "call_id=call_000000000000000000000000")
        assert status == 404
        url = brokered.base_url.replace("http://", "ws://") + f"/v1/realtime?call_id={call_id}"
        async with websockets.connect(url, additional_headers=brokered.auth()) as sideband:
            async with httpx.AsyncClient(base_url=brokered.base_url, timeout=10) as http:
                hung_up = await http.delete(f"/realtime_calls/{call_id}", headers=brokered.auth())
                assert hung_up.status_code == 200
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(20):
                    while True:
                        await sideband.recv()
        status, _ = await refused(brokered, f"call_id={call_id}")
        assert status == 404, "an ended call has no sideband"
    finally:
        await caller.close()  # type: ignore[attr-defined]


async def test_live_attach_relays_the_live_sideband_of_the_tenants_call(
    brokered: RunningGateway,
) -> None:
    async with httpx.AsyncClient(base_url=brokered.base_url, timeout=10) as http:
        minted = await http.post(
            "/realtime_session",
            json={"model": "gpt-live-1", "voice": "marin"},
            headers=brokered.auth(),
        )
    assert minted.status_code == 200, minted.text
    session = minted.json()["session"]
    caller = await call_stub(session["webrtc_url"], session["client_secret"]["value"])
    assert caller.answer_response is not None
    call_id = caller.answer_response.headers["location"].rsplit("/", 1)[1]
    base = brokered.base_url.replace("http://", "ws://")
    url = f"{base}/v1/live/sessions/{call_id}/attach"
    try:
        other = {"Authorization": f"Bearer {brokered.other_tenant_key}"}
        with pytest.raises(websockets.InvalidStatus) as refused_other:
            async with websockets.connect(url, additional_headers=other):
                pass
        assert refused_other.value.response.status_code == 404
        async with websockets.connect(url, additional_headers=brokered.auth()) as attach:
            async with asyncio.timeout(20):
                while True:
                    event = json.loads(await attach.recv())
                    if event["type"] == "session.usage.updated":
                        break
            assert event["usage"]["seconds"] >= 0
            async with httpx.AsyncClient(base_url=brokered.base_url, timeout=10) as http:
                hung_up = await http.delete(f"/realtime_calls/{call_id}", headers=brokered.auth())
                assert hung_up.status_code == 200
            closing = []
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(20):
                    while True:
                        closing.append(json.loads(await attach.recv())["type"])
            assert "session.closed" in closing
    finally:
        await caller.close()  # type: ignore[attr-defined]
