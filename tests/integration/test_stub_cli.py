"""`realtime-gateway stub` from the command line: a generated key, a working API, a clean stop."""

from __future__ import annotations

import asyncio
import queue
import signal

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realtime_gateway.media import ice
from realtime_gateway.webhook_signing import WebhookSecret
from tests.fixtures.servers import free_port, serve_in_thread
from tests.fixtures.stub import SpawnedCommand, connect_answer, new_caller


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_stub_command_prints_generated_key_serves_and_stops(stop_with: signal.Signals) -> None:
    port = free_port()
    with SpawnedCommand.cli("stub", "--port", str(port), "--loopback-ice") as stub:
        key = stub.wait_for_line("stub provider key:", timeout=30).split()[-1]
        stub.wait_for_line("stub listening on", timeout=10)
        client = openai.OpenAI(
            api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=10
        )
        secret = client.realtime.client_secrets.create(session={"type": "realtime"})
        assert secret.value.startswith("ek_")
        stub.process.send_signal(stop_with)
        assert stub.process.wait(timeout=15) == 0


def test_stub_command_uses_openai_api_key_and_does_not_print_it() -> None:
    port = free_port()
    key = "sk-from-env-0123456789"
    with SpawnedCommand.cli("stub", "--port", str(port), OPENAI_API_KEY=key) as stub:
        stub.wait_for_line("stub listening on", timeout=30)
        client = openai.OpenAI(
            api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=10
        )
        assert client.beta.realtime.sessions.create(model="gpt-realtime").client_secret.value
        stub.process.send_signal(signal.SIGINT)
        assert stub.process.wait(timeout=15) == 0
        assert not any(key in line for line in stub.seen)
        assert stub.process.stdout is not None
        assert key not in stub.process.stdout.read()


async def test_stub_command_serves_live_and_its_sideband_on_one_port_and_greets() -> None:
    ice.use_loopback_only()
    port = free_port()
    key = "sk-cli-live-0123456789"
    with SpawnedCommand.cli(
        "stub", "--port", str(port), "--loopback-ice", "--greet", OPENAI_API_KEY=key
    ) as stub:
        stub.wait_for_line("stub listening on", timeout=30)
        client = openai.AsyncOpenAI(
            api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=10
        )
        caller = await new_caller(tone_seconds=0.0)
        try:
            created = await client.live.create(
                session={"model": "gpt-live-1"},
                transport={"type": "webrtc", "sdp": caller.pc.localDescription.sdp},
            )
            await connect_answer(caller, created.transport.sdp)
            # --greet: the stub speaks unasked.
            await caller.wait_for_event("session.output_transcript.delta", timeout=10)
            async with client.live.sideband.connect(session_id=created.session.id) as sideband:
                first = await asyncio.wait_for(sideband.recv(), 10)
                assert first.type == "session.started"
                await client.live.sessions.hangup(created.session.id)
            await caller.wait_for_event("session.closed", timeout=10)
        finally:
            await caller.close()
        stub.process.send_signal(signal.SIGINT)
        assert stub.process.wait(timeout=15) == 0


def _webhook_receiver() -> tuple[Starlette, queue.Queue[tuple[bytes, dict[str, str]]]]:
    received: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()

    async def webhook(request: Request) -> Response:
        received.put((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    return Starlette(routes=[Route("/hook", webhook, methods=["POST"])]), received


def test_stub_command_announces_a_dialled_call_to_its_webhook_url_with_a_printed_secret() -> None:
    app, received = _webhook_receiver()
    port = free_port()
    with (
        serve_in_thread(app) as receiver,
        SpawnedCommand.cli(
            "stub",
            "--port",
            str(port),
            "--webhook-url",
            receiver.base_url + "/hook",
            OPENAI_API_KEY="sk-cli-sip-0123456789",
        ) as stub,
    ):
        secret = stub.wait_for_line("stub webhook secret:", timeout=30).split()[-1]
        stub.wait_for_line("stub listening on", timeout=10)
        dialled = httpx.post(
            f"http://127.0.0.1:{port}/_stub/sip/dial",
            json={"to": "+15551230001"},
            headers={"Authorization": "Bearer sk-cli-sip-0123456789"},
            timeout=10,
        )
        assert dialled.status_code == 201, dialled.text
        body, headers = received.get(timeout=10)
        event = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1").webhooks.unwrap(
            body, headers, secret=secret
        )
        assert event.type == "realtime.call.incoming"
        assert event.data.call_id == dialled.json()["call_id"]  # type: ignore[union-attr]
        stub.process.send_signal(signal.SIGINT)
        assert stub.process.wait(timeout=15) == 0


def test_stub_command_takes_its_webhook_secret_from_the_environment_and_refuses_a_bad_one() -> None:
    _, secret = WebhookSecret.generate()
    port = free_port()
    with SpawnedCommand.cli(
        "stub",
        "--port",
        str(port),
        STUB_WEBHOOK_URL="http://127.0.0.1:9/hook",
        STUB_WEBHOOK_SECRET=secret,
    ) as stub:
        stub.wait_for_line("stub listening on", timeout=30)
        stub.process.send_signal(signal.SIGINT)
        assert stub.process.wait(timeout=15) == 0
        assert not any(secret in line or "webhook secret" in line for line in stub.seen)
    bad = "whsec_not*base64"
    with SpawnedCommand.cli(
        "stub",
        "--port",
        str(port),
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        STUB_WEBHOOK_SECRET=bad,
    ) as refused:
        assert refused.wait_for_exit(30) == 2
        lines = refused.output()
        assert lines[-1] == "stub: a webhook secret must be whsec_ followed by base64"
        assert not any(bad in line for line in lines)
