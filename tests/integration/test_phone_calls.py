"""Phone calls through the gateway, end to end: the offline stub plays OpenAI's side of SIP
(`POST /_stub/sip/dial` makes it deliver a signed `realtime.call.incoming` webhook to the
gateway, and it answers accept / reject / hangup as OpenAI does), the gateway maps the number to
a tenant, admits the call under the leash and answers it, by policy or through the tenant's own
app (which verifies the forwarded event with the official `openai` package and answers through
the gateway with it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI, NotFoundError, OpenAI, PermissionDeniedError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime_gateway.stub.sip_dial import incoming_event
from realtime_gateway.webhook_signing import WebhookSecret, new_webhook_id
from tests.fixtures.gateway import TENANT, TENANT_KEY, GatewayFactory, RunningGateway, wired_to
from tests.fixtures.phone import (
    CALLER,
    INSTRUCTIONS,
    NOBODYS_NUMBER,
    NUMBER,
    OTHER_NUMBER,
    SECRET,
    SIGNER,
    TENANT_SECRET,
    WAIT,
    dial,
    outcome,
    phone_gateway,
    rung_out,
    stub_record,
    until,
)
from tests.fixtures.processes import gateway_process
from tests.fixtures.servers import serve_in_thread
from tests.fixtures.stub import RunningStub


async def tenant_calls(http: httpx.AsyncClient, gateway: RunningGateway) -> list[dict[str, Any]]:
    answer = await http.get("/realtime_calls", headers=gateway.auth())
    assert answer.status_code == 200, answer.text
    calls: list[dict[str, Any]] = answer.json()["calls"]
    return calls


async def usage(http: httpx.AsyncClient, gateway: RunningGateway) -> dict[str, Any]:
    answer = await http.get("/usage", headers=gateway.auth())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def event_for(stub: RunningStub, call_id: str) -> bytes:
    """The `realtime.call.incoming` event OpenAI's side announces `call_id` with."""
    sip = stub_record(stub, call_id).sip
    assert sip is not None
    event = incoming_event("realtime", call_id, sip.sip_headers, sip.event_id, int(time.time()))
    return json.dumps(event).encode()


async def deliver(
    gateway: RunningGateway, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as http:
        return await http.post(
            gateway.url("/webhooks/openai"),
            content=body,
            headers={"Content-Type": "application/json", **(headers or SIGNER.headers(body))},
        )


# -- policy only ----------------------------------------------------------------------------


async def test_policy_call_is_accepted_with_the_pinned_session_and_hung_up_at_its_deadline(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub, max_call_seconds=3)
    call_id = await dial(phone_stub)
    record = await rung_out(phone_stub, call_id)
    assert record.sip is not None and record.sip.outcome == "accepted"
    assert record.sip.session is not None
    assert record.sip.session["instructions"] == INSTRUCTIONS
    assert record.sip.session["model"] == "gpt-realtime"
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        # The stub marks the call accepted before the gateway has recorded it live.
        async with asyncio.timeout(WAIT):
            while (calls := await tenant_calls(http, gateway))[0]["status"] != "live":
                await asyncio.sleep(0.05)
        assert len(calls) == 1
        call = calls[0]
        assert call["transport"] == "sip" and call["status"] == "live"
        assert call["phone"] == {"to": NUMBER, "from": CALLER}
        assert call["id"].startswith("call_") and call["id"] != call_id
        await until(lambda: stub_record(phone_stub, call_id).ended, "the call hung up")
        assert stub_record(phone_stub, call_id).end_reason == "hangup"  # by the gateway
        ended = (await http.get(f"/realtime_calls/{call['id']}", headers=gateway.auth())).json()
        assert ended["status"] == "ended" and ended["ended_reason"] == "max_duration"
        today = (await usage(http, gateway))["today"]
        assert today["by_transport"]["sip"]["calls"] == 1
        assert today["by_transport"]["sip"]["audio_seconds"] >= 3


async def test_unknown_number_is_declined_603(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub)
    call_id = await dial(phone_stub, to=NOBODYS_NUMBER)
    record = await rung_out(phone_stub, call_id)
    assert record.sip is not None
    assert (record.sip.outcome, record.sip.status_code) == ("rejected", 603)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        assert (await usage(http, gateway))["live_calls"] == 0


async def test_cap_reached_rejects_the_next_call_busy_486(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub, max_concurrent_calls=1)
    first = await dial(phone_stub)
    assert (await rung_out(phone_stub, first)).sip.outcome == "accepted"  # type: ignore[union-attr]
    second = await dial(phone_stub, to=OTHER_NUMBER)
    record = await rung_out(phone_stub, second)
    assert record.sip is not None
    assert (record.sip.outcome, record.sip.status_code) == ("rejected", 486)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        assert len(await tenant_calls(http, gateway)) == 1
        metrics = (await http.get("/metrics", headers=gateway.metrics_auth())).text
    assert 'gateway_phone_calls_total{outcome="busy_too_many_calls",tenant="acme"} 1.0' in metrics
    assert 'gateway_phone_calls_total{outcome="accepted",tenant="acme"} 1.0' in metrics


# -- the webhook's signature, timestamp and id ------------------------------------------------


async def test_bad_stale_or_replayed_deliveries_get_401_and_make_no_call(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub, deliver=False)
    call_id = await dial(phone_stub)  # its own deliveries go nowhere: this test delivers
    body = event_for(phone_stub, call_id)
    other_signer, _ = WebhookSecret.generate()
    stale = SIGNER.headers(body, timestamp=int(time.time()) - 301)
    tampered = SIGNER.headers(body)
    refused = [
        other_signer.headers(body),  # signed with another secret
        stale,
        {k: v for k, v in SIGNER.headers(body).items() if k != "webhook-signature"},
    ]
    for headers in refused:
        answer = await deliver(gateway, body, headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error_code"] == "unauthorized"
    answer = await deliver(gateway, body.replace(b"+1555", b"+1556"), tampered)
    assert answer.status_code == 401
    assert outcome(phone_stub, call_id) == "ringing"  # nothing was done
    good = SIGNER.headers(body)
    assert (await deliver(gateway, body, good)).status_code == 200
    assert (await rung_out(phone_stub, call_id)).sip.outcome == "accepted"  # type: ignore[union-attr]
    replay = await deliver(gateway, body, good)
    assert replay.status_code == 401
    assert "already delivered" in replay.json()["message"]
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        assert len(await tenant_calls(http, gateway)) == 1


async def test_webhook_is_off_without_a_secret(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = gateway_factory(**wired_to(phone_stub))
    body = b'{"type": "realtime.call.incoming"}'
    answer = await deliver(gateway, body)
    assert answer.status_code == 404


# -- forwarded to the tenant's app ----------------------------------------------------------


@dataclass
class TenantApp:
    """The tenant's webhook endpoint: verifies each forwarded event with the official `openai`
    package and the tenant's secret, and keeps it for the test to answer."""

    events: queue.Queue[Any] = field(default_factory=queue.Queue)
    refused: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)  # every delivery, headers and body
    url: str = ""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(repr(request.headers.items()).encode() + body)
        client = OpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9/v1")
        try:
            event = client.webhooks.unwrap(body, request.headers, secret=TENANT_SECRET)
        except Exception as error:  # the test fails on any refusal
            self.refused.append(repr(error))
            return Response(status_code=400)
        self.events.put(event)
        return Response(status_code=200)

    async def next(self, timeout: float = WAIT) -> Any:
        try:
            return await asyncio.to_thread(self.events.get, True, timeout)
        except queue.Empty:
            raise AssertionError(f"no forwarded event within {timeout} s") from None


@contextlib.asynccontextmanager
async def tenant_app() -> AsyncIterator[TenantApp]:
    app = TenantApp()
    starlette = Starlette(routes=[Route("/phone", app.handle, methods=["POST"])])
    with serve_in_thread(starlette) as served:
        app.url = served.base_url + "/phone"
        yield app


async def test_forwarded_call_is_answered_by_the_tenant_app_through_the_gateway(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    async with tenant_app() as app:
        gateway = phone_gateway(
            gateway_factory,
            phone_stub,
            phone_answer="forward",
            phone_webhook_url=app.url,
            phone_webhook_secret=TENANT_SECRET,
            phone_answer_seconds=10,
        )
        call_id = await dial(phone_stub)
        event = await app.next()
        assert app.refused == []
        assert event.type == "realtime.call.incoming"
        assert event.data.call_id.startswith("call_") and event.data.call_id != call_id
        sent = {header.name: header.value for header in event.data.sip_headers}
        assert sent["From"].startswith(f"<sip:{CALLER}@")
        assert outcome(phone_stub, call_id) == "ringing"  # the tenant decides
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
            # A refused body does not use the answer up: the app may answer again.
            wrong = await http.post(
                f"/v1/realtime/calls/{event.data.call_id}/accept",
                json={"type": "live", "model": "gpt-live-1"},
                headers=gateway.auth(),
            )
            assert wrong.status_code == 400, wrong.text
            assert wrong.json()["error"]["code"] == "invalid_request"
        assert outcome(phone_stub, call_id) == "ringing"
        client = AsyncOpenAI(api_key=gateway.tenant_key, base_url=gateway.url("/v1"))
        await client.realtime.calls.accept(
            event.data.call_id,
            type="realtime",
            model="gpt-realtime",
            instructions="Say anything you like.",
            audio={"output": {"voice": "cedar"}},
        )
        record = await rung_out(phone_stub, call_id)
        assert record.sip is not None and record.sip.outcome == "accepted"
        assert record.sip.session is not None
        assert record.sip.session["instructions"] == INSTRUCTIONS  # the policy's pin wins
        assert record.sip.session["audio"]["output"]["voice"] == "cedar"
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
            calls = await tenant_calls(http, gateway)
            assert [c["id"] for c in calls] == [event.data.call_id]
            # The record is what the tenant answered with, not the admission's defaults.
            assert (calls[0]["model"], calls[0]["voice"]) == ("gpt-realtime", "cedar")
            # Answered once: a second accept is refused, and so is another tenant's.
            again = await http.post(
                f"/v1/realtime/calls/{event.data.call_id}/accept",
                json={"type": "realtime", "model": "gpt-realtime"},
                headers=gateway.auth(),
            )
            assert again.status_code == 400
            assert again.json()["error"]["code"] == "invalid_request"
            theirs = await http.post(
                f"/v1/realtime/calls/{event.data.call_id}/reject",
                json={},
                headers=gateway.auth(gateway.other_tenant_key),
            )
            assert theirs.status_code == 404


async def test_forwarded_call_the_tenant_rejects(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    async with tenant_app() as app:
        gateway = phone_gateway(
            gateway_factory,
            phone_stub,
            phone_answer="forward",
            phone_webhook_url=app.url,
            phone_webhook_secret=TENANT_SECRET,
        )
        call_id = await dial(phone_stub)
        event = await app.next()
        client = AsyncOpenAI(api_key=gateway.tenant_key, base_url=gateway.url("/v1"))
        await client.realtime.calls.reject(event.data.call_id, status_code=486)
        record = await rung_out(phone_stub, call_id)
        assert record.sip is not None
        assert (record.sip.outcome, record.sip.status_code) == ("rejected", 486)
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
            assert (await usage(http, gateway))["live_calls"] == 0


async def test_forwarded_call_nobody_answers_is_rejected_after_phone_answer_seconds(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    async with tenant_app() as app:
        gateway = phone_gateway(
            gateway_factory,
            phone_stub,
            phone_answer="forward",
            phone_webhook_url=app.url,
            phone_webhook_secret=TENANT_SECRET,
            phone_answer_seconds=2,
        )
        call_id = await dial(phone_stub)
        event = await app.next()
        record = await rung_out(phone_stub, call_id)
        assert record.sip is not None
        assert (record.sip.outcome, record.sip.status_code) == ("rejected", 480)
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
            assert (await usage(http, gateway))["live_calls"] == 0
            late = await http.post(
                f"/v1/realtime/calls/{event.data.call_id}/accept",
                json={"type": "realtime", "model": "gpt-realtime"},
                headers=gateway.auth(),
            )
            assert late.status_code in (400, 404)


async def test_a_duplicate_delivery_makes_one_call(
    gateway_factory: GatewayFactory, phone_stub: RunningStub, redis_url: str
) -> None:
    """The same event delivered twice at once under two webhook ids (OpenAI delivers at least
    once), through two replicas sharing Redis: one admission, one event forwarded to the
    tenant, one call when it accepts."""
    async with tenant_app() as app:
        forwarded = {
            "phone_answer": "forward",
            "phone_webhook_url": app.url,
            "phone_webhook_secret": TENANT_SECRET,
        }
        first, second = (
            phone_gateway(
                gateway_factory, phone_stub, deliver=False, redis_url=redis_url, **forwarded
            )
            for _ in range(2)
        )
        call_id = await dial(phone_stub)
        body = event_for(phone_stub, call_id)
        answers = await asyncio.gather(
            deliver(first, body, SIGNER.headers(body, webhook_id=new_webhook_id())),
            deliver(second, body, SIGNER.headers(body, webhook_id=new_webhook_id())),
        )
        assert [a.status_code for a in answers] == [200, 200]
        # Forwarding is done before the delivery is answered: a second one would be here.
        assert app.events.qsize() == 1
        event = await app.next()
        client = AsyncOpenAI(api_key=second.tenant_key, base_url=second.url("/v1"))
        await client.realtime.calls.accept(
            event.data.call_id, type="realtime", model="gpt-realtime"
        )
        assert (await rung_out(phone_stub, call_id)).sip.outcome == "accepted"  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=first.base_url, timeout=WAIT) as http:
            assert [c["id"] for c in await tenant_calls(http, first)] == [event.data.call_id]
            assert (await usage(http, first))["live_calls"] == 1


async def test_budget_spent_rejects_the_next_call_busy_486(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub, daily_audio_seconds=1)
    first = await dial(phone_stub)
    assert (await rung_out(phone_stub, first)).sip.outcome == "accepted"  # type: ignore[union-attr]
    await until(lambda: stub_record(phone_stub, first).ended, "the budget hung the call up")
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        assert (await usage(http, gateway))["audio_seconds_left"] == 0
        second = await dial(phone_stub)
        record = await rung_out(phone_stub, second)
        assert record.sip is not None
        assert (record.sip.outcome, record.sip.status_code) == ("rejected", 486)
        metrics = (await http.get("/metrics", headers=gateway.metrics_auth())).text
    assert 'gateway_phone_calls_total{outcome="busy_quota_exceeded",tenant="acme"} 1.0' in metrics


async def test_a_phone_call_survives_its_replica_being_sigkilled(
    phone_stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    """Two `serve` processes on one Redis; the one that accepted the call is SIGKILLed once
    the call's sideband is held. The other takes the sideband over and hangs the call up at
    its deadline; the ledger counts the call once, as a sip call."""
    max_seconds = 8  # longer than a sideband lease (5 s), so the takeover comes first
    policy = {"phone_numbers": [NUMBER], "max_call_seconds": max_seconds}
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": phone_stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": phone_stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": phone_stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_OPENAI_WEBHOOK_SECRET": SECRET,
        "GATEWAY_TENANT_POLICIES": json.dumps({TENANT: policy}),
    }
    acme = {"Authorization": f"Bearer {TENANT_KEY}"}
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(
            gateway_process(tmp_path, env, GATEWAY_AUDIT_LOG=str(tmp_path / "first.jsonl"))
        )
        second = stack.enter_context(
            gateway_process(tmp_path, env, GATEWAY_AUDIT_LOG=str(tmp_path / "second.jsonl"))
        )
        assert phone_stub.state.webhooks is not None
        phone_stub.state.webhooks.url = first.base_url + "/webhooks/openai"
        call_id = await dial(phone_stub)
        assert (await rung_out(phone_stub, call_id)).sip.outcome == "accepted"  # type: ignore[union-attr]
        record = stub_record(phone_stub, call_id)
        await until(lambda: record.sidebands_attached >= 1, "the sideband held")
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.process.wait, WAIT)
        await until(lambda: record.ended, "the call hung up", timeout=30)
        async with httpx.AsyncClient(base_url=second.base_url, timeout=WAIT) as http:
            today = (await http.get("/usage", headers=acme)).json()["today"]
    assert record.sidebands_attached == 2  # the second replica took the sideband over
    assert record.end_reason == "hangup"  # hung up by the gateway, not timed out at the stub
    assert today["calls"] == 1 and today["by_transport"]["sip"]["calls"] == 1
    assert max_seconds <= today["audio_seconds"] < max_seconds + 3
    ends = [
        line
        for line in (tmp_path / "second.jsonl").read_text().splitlines()
        if json.loads(line).get("event") == "call.ended"
    ]
    assert len(ends) == 1 and json.loads(ends[0])["transport"] == "sip"


# -- GPT-Live phone calls (`live.transport.incoming`) ----------------------------------------


async def test_live_policy_call_is_accepted_as_a_live_session_and_hung_up_at_its_deadline(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub, max_call_seconds=2)
    session_id = await dial(phone_stub, api="live")
    assert session_id.startswith("live_")
    record = await rung_out(phone_stub, session_id)
    assert record.sip is not None and record.sip.outcome == "accepted"
    assert record.sip.session is not None
    assert record.sip.session["type"] == "live" and record.sip.session["model"] == "gpt-live-1"
    assert record.sip.session["instructions"] == INSTRUCTIONS
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        [call] = await tenant_calls(http, gateway)
        assert call["transport"] == "sip" and call["provider"] == "openai-live"
        await until(lambda: stub_record(phone_stub, session_id).ended, "the call hung up")
        ended = (await http.get(f"/realtime_calls/{call['id']}", headers=gateway.auth())).json()
        assert ended["ended_reason"] == "max_duration"


async def test_live_forwarded_call_is_answered_with_the_openai_package(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    async with tenant_app() as app:
        gateway = phone_gateway(
            gateway_factory,
            phone_stub,
            phone_answer="forward",
            phone_webhook_url=app.url,
            phone_webhook_secret=TENANT_SECRET,
        )
        first = await dial(phone_stub, api="live")
        event = await app.next()
        assert app.refused == []
        assert event.type == "live.transport.incoming"
        assert event.data.session_id.startswith("call_")
        client = AsyncOpenAI(api_key=gateway.tenant_key, base_url=gateway.url("/v1"))
        # The Realtime route does not answer a Live call (nor the other way round).
        with pytest.raises(NotFoundError):
            await client.realtime.calls.accept(
                event.data.session_id, type="realtime", model="gpt-realtime"
            )
        await client.live.sessions.accept(
            event.data.session_id, session={"type": "live", "model": "gpt-live-1"}
        )
        record = await rung_out(phone_stub, first)
        assert record.sip is not None and record.sip.outcome == "accepted"
        assert record.sip.session is not None
        assert record.sip.session["instructions"] == INSTRUCTIONS
        second = await dial(phone_stub, api="live")
        event = await app.next()
        await client.live.sessions.reject(event.data.session_id, status_code=486)
        record = await rung_out(phone_stub, second)
        assert record.sip is not None
        assert (record.sip.outcome, record.sip.status_code) == ("rejected", 486)


async def test_refer_only_to_the_tenants_refer_targets(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    gateway = phone_gateway(
        gateway_factory, phone_stub, refer_targets=["tel:+15557770000", "sip:*@desk.acme.example"]
    )
    call_id = await dial(phone_stub)
    assert (await rung_out(phone_stub, call_id)).sip.outcome == "accepted"  # type: ignore[union-attr]
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        [call] = await tenant_calls(http, gateway)
    client = AsyncOpenAI(api_key=gateway.tenant_key, base_url=gateway.url("/v1"))
    with pytest.raises(PermissionDeniedError):  # toll fraud: any other number is refused
        await client.realtime.calls.refer(call["id"], target_uri="tel:+19005550100")
    assert outcome(phone_stub, call_id) == "accepted"
    await client.realtime.calls.refer(call["id"], target_uri="tel:+1 555 777 0000")
    record = stub_record(phone_stub, call_id)
    assert record.sip is not None
    assert (record.sip.outcome, record.sip.refer_target) == ("referred", "tel:+15557770000")
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        await until(lambda: record.ended, "the transferred call to end")
        async with asyncio.timeout(WAIT):
            while (await tenant_calls(http, gateway)) != []:
                await asyncio.sleep(0.1)
        assert (await usage(http, gateway))["today"]["by_transport"]["sip"]["calls"] == 1


async def test_no_secret_key_or_provider_call_id_reaches_the_tenant_or_the_logs(
    gateway_factory: GatewayFactory, phone_stub: RunningStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with tenant_app() as app:
        gateway = phone_gateway(
            gateway_factory,
            phone_stub,
            phone_answer="forward",
            phone_webhook_url=app.url,
            phone_webhook_secret=TENANT_SECRET,
        )
        call_id = await dial(phone_stub)
        event = await app.next()
        client = AsyncOpenAI(api_key=gateway.tenant_key, base_url=gateway.url("/v1"))
        await client.realtime.calls.accept(
            event.data.call_id, type="realtime", model="gpt-realtime"
        )
        assert (await rung_out(phone_stub, call_id)).sip.outcome == "accepted"  # type: ignore[union-attr]
        refused = await deliver(gateway, b"{}", SIGNER.headers(b"{}", timestamp=1))
        assert refused.status_code == 401
        answers = refused.text
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
            answers += (await http.get("/realtime_calls", headers=gateway.auth())).text
    secrets_seen = [phone_stub.api_key, gateway.tenant_key, SECRET, TENANT_SECRET, call_id]
    delivered = b"".join(app.received)
    gateway_records = [r for r in caplog.records if r.name.startswith("realtime_gateway.gateway")]
    assert [r for r in gateway_records if r.getMessage() == "phone call"]  # the logs were read
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in gateway_records)
    for secret in secrets_seen:
        assert secret.encode() not in delivered
        assert secret not in logged
        assert secret not in answers


async def test_the_tenant_joins_its_phone_calls_sideband(
    gateway_factory: GatewayFactory, phone_stub: RunningStub
) -> None:
    """`client.realtime.connect(call_id=<gateway call id>)` on a phone call, as on a WebRTC
    call: the pins hold, the model answers, and the ledger has the response's tokens, as sip."""
    gateway = phone_gateway(gateway_factory, phone_stub, max_call_seconds=60)
    call_id = await dial(phone_stub)
    assert (await rung_out(phone_stub, call_id)).sip.outcome == "accepted"  # type: ignore[union-attr]
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        [call] = await tenant_calls(http, gateway)
        client = AsyncOpenAI(api_key=gateway.tenant_key, base_url=gateway.url("/v1"), max_retries=0)
        async with client.realtime.connect(call_id=call["id"]) as sideband:
            await sideband.session.update(session={"type": "realtime", "instructions": "Pirate."})
            async with asyncio.timeout(WAIT):
                async for event in sideband:
                    if event.type == "session.updated":
                        assert event.session.instructions == INSTRUCTIONS  # the pin holds
                        await sideband.send({"type": "response.create"})
                    if event.type == "response.done":
                        output_tokens = event.response.usage.output_tokens
                        break
        assert output_tokens > 0
        hung_up = await http.delete(f"/realtime_calls/{call['id']}", headers=gateway.auth())
        assert hung_up.status_code == 200, hung_up.text
        async with asyncio.timeout(WAIT):
            while (today := (await usage(http, gateway))["today"])["calls"] < 1:
                await asyncio.sleep(0.1)
    assert today["by_transport"]["sip"]["calls"] == 1
    # This response is in the ledger (the caller's own turn, answered by VAD, may add one).
    assert today["tokens"]["output"] >= output_tokens
