"""The stub as OpenAI's side of phone calls: a dialled call's signed webhook reaches a real
receiver on 127.0.0.1, which verifies it with the official `openai` package; the `openai` package
then answers the call (accept / reject / refer / hang up, Realtime and Live) and the stub records
what became of it; the accepted call's caller speaks and the model answers, with usage."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from openai import AsyncOpenAI, BadRequestError, InvalidWebhookSignatureError, NotFoundError, OpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime_gateway.stub.records import CallRecord
from realtime_gateway.stub.server import StubConfig, StubState, create_stub_app
from realtime_gateway.webhook_signing import WebhookSecret
from tests.fixtures.servers import serve_in_thread
from tests.fixtures.stub import STUB_WS

_, SECRET = WebhookSecret.generate()
API_KEY = "sk-stub-sip-test-0123456789"
CALLED = "+15551230001"
CALLER = "+15559870002"
HOLD = -1  # a scripted answer: hold the delivery open until the test lets it go


@dataclass
class Delivery:
    headers: dict[str, str]
    event: Any | None  # as the openai package unwrapped it; None when it refused the signature
    refusal: str | None


@dataclass
class Receiver:
    """An app's webhook endpoint: verifies each delivery with the official `openai` package,
    then answers with the next scripted status (200 once the script is spent)."""

    statuses: list[int] = field(default_factory=list)
    deliveries: queue.Queue[Delivery] = field(default_factory=queue.Queue)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            event = OpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9/v1").webhooks.unwrap(
                body, request.headers, secret=SECRET
            )
            delivery = Delivery(dict(request.headers), event, None)
        except InvalidWebhookSignatureError as error:
            delivery = Delivery(dict(request.headers), None, str(error))
        self.deliveries.put(delivery)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == HOLD:
            await asyncio.to_thread(self.release.wait, 30)
            status = 200
        return Response(status_code=status)

    async def next(self, timeout: float = 10.0) -> Delivery:
        try:
            return await asyncio.to_thread(self.deliveries.get, True, timeout)
        except queue.Empty:
            raise AssertionError(f"no webhook delivery within {timeout} s") from None


@dataclass
class SipStub:
    base_url: str
    state: StubState
    receiver: Receiver
    client: AsyncOpenAI

    async def dial(self, **body: Any) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                self.base_url + "/_stub/sip/dial",
                json={"to": CALLED, "from": CALLER, **body},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
        assert answer.status_code == 201, answer.text
        call_id: str = answer.json()["call_id"]
        return call_id

    def record(self, call_id: str) -> CallRecord:
        record = self.state.record(call_id)
        assert record is not None and record.sip is not None
        return record


@contextlib.contextmanager
def sip_stub(statuses: list[int] | None = None, **config: Any) -> Iterator[SipStub]:
    """A receiver and a stub that announces its phone calls to it. The caller waits for a
    sideband before speaking (up to 30 s), so a test that listens hears every word."""
    receiver = Receiver(statuses=list(statuses or []))
    app = Starlette(routes=[Route("/webhooks/openai", receiver.handle, methods=["POST"])])
    with serve_in_thread(app) as served:
        receiver.url = served.base_url + "/webhooks/openai"
        settings: dict[str, Any] = {
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
            "webhook_retry_delays": (0.05, 0.05, 0.05),
            "sip_ring_seconds": 60.0,
            "sip_caller_delay": 30.0,
            **config,
        }
        stub_app = create_stub_app(StubConfig(api_key=API_KEY, **settings))
        try:
            with serve_in_thread(stub_app, ws=STUB_WS) as stub:
                client = AsyncOpenAI(api_key=API_KEY, base_url=stub.base_url + "/v1", max_retries=0)
                yield SipStub(stub.base_url, stub_app.state.stub, receiver, client)
        finally:
            receiver.release.set()


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        await asyncio.sleep(0.02)


async def next_of(connection: Any, event_type: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {event_type} within {timeout} s")
        event = await asyncio.wait_for(connection.recv(), remaining)
        if getattr(event, "type", None) == event_type:
            return event


def header(event: Any, name: str) -> list[str]:
    return [h.value for h in event.data.sip_headers if h.name == name]


async def test_a_dialled_call_announces_itself_with_a_verified_webhook_and_is_accepted() -> None:
    with sip_stub() as sip:
        call_id = await sip.dial(headers={"X-Customer": "42", "Authorization": "Digest secret"})
        delivery = await sip.receiver.next()
        assert delivery.refusal is None, delivery.refusal
        event = delivery.event
        assert event.type == "realtime.call.incoming" and event.object == "event"
        assert event.id.startswith("evt_") and call_id.startswith("rtc_")
        assert event.data.call_id == call_id
        assert header(event, "To") == [f"<sip:{CALLED}@sip.api.openai.com>"]
        assert header(event, "From")[0].startswith(f"<sip:{CALLER}@")
        assert len(header(event, "Call-ID")) == 1
        assert header(event, "X-Customer") == ["42"]
        # OpenAI passes on an INVITE's headers without its authorization headers.
        assert header(event, "Authorization") == []
        assert delivery.headers["webhook-id"] == sip.record(call_id).sip.webhook_id  # type: ignore[union-attr]
        assert sip.record(call_id).sip.outcome == "ringing"  # type: ignore[union-attr]

        tools = [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}]
        await sip.client.realtime.calls.accept(
            call_id,
            type="realtime",
            model="gpt-realtime",
            instructions="You answer the shop's phone.",
            audio={"output": {"voice": "verse"}},
            tools=tools,  # type: ignore[arg-type]
        )
        record = sip.record(call_id)
        assert record.sip is not None and record.sip.outcome == "accepted"
        assert record.sip.session is not None
        assert record.sip.session["instructions"] == "You answer the shop's phone."
        assert record.sip.session["tools"] == tools
        assert (record.model, record.voice) == ("gpt-realtime", "verse")
        assert record.sip.delivered and record.sip.deliveries == [{"attempt": 1, "status": 200}]
        with pytest.raises(BadRequestError) as twice:
            await sip.client.realtime.calls.accept(call_id, type="realtime")
        assert twice.value.code == "call_not_ringing"

        # The WebRTC calls' hang-up ends a phone call too.
        await sip.client.realtime.calls.hangup(call_id)
        assert record.ended and record.end_reason == "hangup"
        async with httpx.AsyncClient() as http:
            listed = await http.get(
                sip.base_url + "/_stub/calls", headers={"Authorization": f"Bearer {API_KEY}"}
            )
        shown = next(c for c in listed.json()["calls"] if c["call_id"] == call_id)
        assert shown["sip"]["to_number"] == CALLED and shown["sip"]["from_number"] == CALLER
        assert shown["sip"]["outcome"] == "accepted" and shown["end_reason"] == "hangup"


async def test_reject_sends_the_sip_status_and_603_by_default() -> None:
    with sip_stub() as sip:
        busy, declined = await sip.dial(), await sip.dial(to="+15551230003")
        await sip.client.realtime.calls.reject(busy, status_code=486)
        await sip.client.realtime.calls.reject(declined)
        for call_id, status in ((busy, 486), (declined, 603)):
            record = sip.record(call_id)
            assert record.sip is not None
            assert (record.sip.outcome, record.sip.status_code) == ("rejected", status)
            assert record.ended and record.end_reason == "rejected"
        with pytest.raises(BadRequestError):
            await sip.client.realtime.calls.accept(busy, type="realtime")
        with pytest.raises(BadRequestError) as bad:
            await sip.client.realtime.calls.reject(await sip.dial(), status_code=200)
        assert bad.value.param == "status_code"


async def test_refer_transfers_an_accepted_call_and_ends_it() -> None:
    with sip_stub() as sip:
        call_id = await sip.dial()
        with pytest.raises(BadRequestError) as early:
            await sip.client.realtime.calls.refer(call_id, target_uri="tel:+15550001111")
        assert early.value.code == "call_not_active"
        await sip.client.realtime.calls.accept(call_id, type="realtime")
        with pytest.raises(BadRequestError) as odd:
            await sip.client.realtime.calls.refer(call_id, target_uri="https://example.com")
        assert odd.value.param == "target_uri"
        async with sip.client.realtime.connect(call_id=call_id) as sideband:
            await next_of(sideband, "session.created")
            await sip.client.realtime.calls.refer(call_id, target_uri="tel:+15550001111")
            with pytest.raises(websockets.ConnectionClosedOK):
                while True:
                    await asyncio.wait_for(sideband.recv(), 10)
        record = sip.record(call_id)
        assert record.sip is not None and record.sip.outcome == "referred"
        assert record.sip.refer_target == "tel:+15550001111"
        assert record.ended and record.end_reason == "transferred"
        with pytest.raises(NotFoundError):
            await sip.client.realtime.calls.hangup(call_id)


async def test_a_ringing_call_can_be_hung_up() -> None:
    with sip_stub() as sip:
        call_id = await sip.dial()
        await sip.client.realtime.calls.hangup(call_id)
        record = sip.record(call_id)
        assert record.sip is not None and record.sip.outcome == "hung_up"
        assert record.ended and record.end_reason == "hangup"
        with pytest.raises(NotFoundError):
            await sip.client.realtime.calls.hangup(call_id)


async def test_a_receiver_that_fails_twice_gets_the_same_event_a_third_time() -> None:
    with sip_stub(statuses=[500, 503]) as sip:
        call_id = await sip.dial()
        attempts = [await sip.receiver.next() for _ in range(3)]
        assert all(a.refusal is None for a in attempts), [a.refusal for a in attempts]
        assert len({a.headers["webhook-id"] for a in attempts}) == 1
        assert len({a.event.id for a in attempts}) == 1
        assert all(a.event.data.call_id == call_id for a in attempts)
        record = sip.record(call_id)
        await wait_until(lambda: record.sip is not None and record.sip.delivered, "delivered")
        assert record.sip is not None and record.sip.deliveries == [
            {"attempt": 1, "status": 500},
            {"attempt": 2, "status": 503},
            {"attempt": 3, "status": 200},
        ]
        await wait_until(lambda: not sip.state.phone_calls[call_id].delivering, "done")
        assert len(record.sip.deliveries) == 3 and sip.receiver.deliveries.empty()


async def test_a_delivery_left_unanswered_is_retried() -> None:
    with sip_stub(statuses=[HOLD], webhook_timeout=1.0) as sip:
        call_id = await sip.dial()
        first, second = await sip.receiver.next(), await sip.receiver.next()
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        record = sip.record(call_id)
        await wait_until(lambda: record.sip is not None and record.sip.delivered, "delivered")
        assert record.sip is not None
        assert [a.get("error") for a in record.sip.deliveries] == ["TimeoutError", None]


async def test_retries_stop_once_the_call_is_answered() -> None:
    with sip_stub(statuses=[500, 500, 500], webhook_retry_delays=(3.0, 3.0)) as sip:
        call_id = await sip.dial()
        await sip.receiver.next()
        await sip.client.realtime.calls.reject(call_id)
        # The retry due 3 s after the first attempt finds the call answered and is not sent.
        await wait_until(lambda: not sip.state.phone_calls[call_id].delivering, "done", 15)
        record = sip.record(call_id)
        assert record.sip is not None and not record.sip.delivered
        assert record.sip.deliveries == [{"attempt": 1, "status": 500}]
        assert sip.receiver.deliveries.empty()


@pytest.mark.parametrize("use_espeak", [True, False], ids=["espeak-ng", "synthetic-voice"])
async def test_accepted_call_the_caller_speaks_and_the_sideband_sees_the_answer(
    use_espeak: bool,
) -> None:
    with sip_stub(use_espeak=use_espeak) as sip:
        call_id = await sip.dial(speak="Hello, is the shop open on Sunday?")
        await sip.receiver.next()
        await sip.client.realtime.calls.accept(
            call_id, type="realtime", instructions="Answer the phone briefly."
        )
        async with sip.client.realtime.connect(call_id=call_id) as sideband:
            created = await next_of(sideband, "session.created")
            assert created.session.instructions == "Answer the phone briefly."
            await next_of(sideband, "input_audio_buffer.speech_started", timeout=15)
            await next_of(sideband, "input_audio_buffer.committed", timeout=20)
            done = await next_of(sideband, "response.done", timeout=30)
        assert done.response.status == "completed"
        usage = done.response.usage
        assert usage.input_token_details.audio_tokens > 0  # the caller's speech was heard
        assert usage.output_token_details.audio_tokens > 0  # the answer was played out
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        record = sip.record(call_id)
        assert record.connected and record.speech_started >= 1 and record.responses >= 1
        await sip.client.realtime.calls.hangup(call_id)


async def test_with_no_sideband_the_caller_speaks_anyway_and_is_answered() -> None:
    with sip_stub(sip_caller_delay=0.2) as sip:
        call_id = await sip.dial()
        await sip.client.realtime.calls.accept(call_id, type="realtime")
        record = sip.record(call_id)
        await wait_until(lambda: record.speech_stopped >= 1, "heard the caller", 20)
        call = sip.state.active[call_id]
        await wait_until(lambda: call.spoken_frames > 0, "answering with speech")
        assert record.responses >= 1 and record.sidebands_attached == 0
        await sip.client.realtime.calls.hangup(call_id)


async def test_live_call_is_announced_accepted_heard_answered_and_referred() -> None:
    with sip_stub() as sip:
        session_id = await sip.dial(api="live", speak="Hi, I would like to book a table.")
        delivery = await sip.receiver.next()
        assert delivery.refusal is None, delivery.refusal
        event = delivery.event
        assert event.type == "live.transport.incoming"
        assert session_id.startswith("live_") and event.data.session_id == session_id
        assert event.data.type == "sip"
        with pytest.raises(NotFoundError):  # a Live session is not a Realtime call
            await sip.client.realtime.calls.accept(session_id, type="realtime")
        await sip.client.live.sessions.accept(
            session_id,
            session={
                "type": "live",
                "model": "gpt-live-1",
                "audio": {"output": {"voice": "cedar"}},
                "instructions": "Take bookings.",
            },
        )
        record = sip.record(session_id)
        assert record.sip is not None and record.sip.outcome == "accepted"
        assert (record.model, record.voice) == ("gpt-live-1", "cedar")
        async with sip.client.live.sideband.connect(session_id=session_id) as sideband:
            started = await next_of(sideband, "session.started")
            assert started.session.instructions == "Take bookings."
            await next_of(sideband, "session.input_transcript.delta", timeout=20)
            await next_of(sideband, "session.output_transcript.delta", timeout=15)
            usage = await next_of(sideband, "session.usage.updated", timeout=5)
            assert usage.usage.seconds >= 1
            await sip.client.live.sessions.refer(session_id, target_uri="sip:desk@example.com")
            closed = await next_of(sideband, "session.closed", timeout=10)
        assert closed.reason == "remote_hangup"
        assert (
            record.sip.outcome == "referred" and record.sip.refer_target == "sip:desk@example.com"
        )
        assert record.ended and record.end_reason == "remote_hangup"


async def test_live_reject_and_hangup_while_ringing() -> None:
    with sip_stub() as sip:
        rejected, hung_up = await sip.dial(api="live"), await sip.dial(api="live")
        await sip.client.live.sessions.reject(rejected, status_code=486)
        await sip.client.live.sessions.hangup(hung_up)
        assert sip.record(rejected).sip.status_code == 486  # type: ignore[union-attr]
        assert sip.record(rejected).end_reason == "rejected"
        assert sip.record(hung_up).sip.outcome == "hung_up"  # type: ignore[union-attr]
        async with httpx.AsyncClient() as http:
            missing = await http.post(
                f"{sip.base_url}/v1/live/sessions/{await sip.dial(api='live')}/reject",
                json={},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
        assert missing.status_code == 400
        assert missing.json()["error"]["param"] == "status_code"


async def test_an_unanswered_call_ends_on_its_own() -> None:
    with sip_stub(
        sip_ring_seconds=1.0, statuses=[500] * 10, webhook_retry_delays=(0.2,) * 9
    ) as sip:
        call_id = await sip.dial()
        record = sip.record(call_id)
        await wait_until(lambda: record.ended, "ended unanswered")
        assert record.sip is not None and record.sip.outcome == "unanswered"
        assert record.end_reason == "unanswered" and not record.sip.delivered
        with pytest.raises(BadRequestError) as late:
            await sip.client.realtime.calls.accept(call_id, type="realtime")
        assert late.value.code == "call_not_ringing"
        # The retries stop with the ringing: fewer than the ten the schedule allows.
        await wait_until(lambda: not sip.state.phone_calls[call_id].delivering, "done")
        assert 1 <= len(record.sip.deliveries) < 10
        with pytest.raises(websockets.InvalidStatus):
            url = sip.base_url.replace("http", "ws") + f"/v1/realtime?call_id={call_id}"
            async with websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {API_KEY}"}
            ):
                pass


async def test_dial_refusals() -> None:
    with sip_stub() as sip:
        async with httpx.AsyncClient(base_url=sip.base_url) as http:
            url = "/_stub/sip/dial"
            assert (await http.post(url, json={"to": CALLED})).status_code == 401
            key = {"Authorization": f"Bearer {API_KEY}"}
            for body, param in (
                ({}, "to"),
                ({"to": CALLED, "api": "fax"}, "api"),
                ({"to": CALLED, "headers": {"X-Evil": "a\r\nTo: +1555"}}, "headers"),
                ({"to": CALLED, "headers": {"Bad Name": "x"}}, "headers"),
                ({"to": CALLED, "extra": 1}, "extra"),
            ):
                refused = await http.post(url, json=body, headers=key)
                assert refused.status_code == 400, body
                assert refused.json()["error"]["param"] == param
        with pytest.raises(NotFoundError):
            await sip.client.realtime.calls.accept("rtc_unknown", type="realtime")
    # A stub with no webhook URL cannot announce a call, and says so.
    app = create_stub_app(StubConfig(api_key=API_KEY))
    with serve_in_thread(app) as plain:
        async with httpx.AsyncClient(base_url=plain.base_url) as http:
            refused = await http.post(
                "/_stub/sip/dial",
                json={"to": CALLED},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "webhook_not_configured"
