"""OpenAI's own browser SDK (`@openai/agents-realtime`, see agents_sdk.py) in Chromium against the
stub, with a secret minted by the gateway: connect, a spoken reply, `sendMessage('hello')`,
`interrupt()` and `close()`, as a new user would try them.

The page is served from an origin of its own (another port), so the SDK's SDP POST crosses
origins and its CORS preflight is exercised as in a real app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.fixtures.gateway import RunningGateway
from tests.fixtures.servers import serve_in_thread
from tests.playwright.agents_sdk import agents_sdk_bundle
from tests.playwright.conftest import OperatorPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

HEARD_PEAK = 0.1  # the received audio's peak (0..1 of full scale) that counts as speech

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>agents-realtime against the stub</title></head>
<body>
<audio id="out" autoplay></audio>
<script src="/openai-realtime-agents.umd.js"></script>
<script>
window.sdkLog = [];
window.peak = 0;
window.startSdk = async (url, apiKey) => {
  const { RealtimeAgent, RealtimeSession, OpenAIRealtimeWebRTC } = OpenAIAgentsRealtime;
  const context = new AudioContext();
  context.resume().catch(() => {});
  // A silent microphone: the stub's voice detector stays out of this test's way.
  const microphone = context.createMediaStreamDestination().stream;
  const audioElement = document.getElementById("out");
  const transport = new OpenAIRealtimeWebRTC({
    baseUrl: url, mediaStream: microphone, audioElement,
  });
  const agent = new RealtimeAgent({ name: "Assistant", instructions: "Answer briefly." });
  const session = new RealtimeSession(agent, { transport, model: "gpt-realtime" });
  window.session = session;
  const names = ["audio_start", "audio_stopped", "audio_interrupted", "history_added", "error"];
  for (const name of names) {
    session.on(name, (...args) => {
      const detail = name === "error" ? ": " + JSON.stringify(args[0]?.error ?? args[0]) : "";
      window.sdkLog.push(name + detail);
    });
  }
  await session.connect({ apiKey });
  const watch = () => {
    const stream = audioElement.srcObject;
    if (!stream) { setTimeout(watch, 50); return; }
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      for (const value of samples) window.peak = Math.max(window.peak, Math.abs(value));
    }, 20);
  };
  watch();
  return transport.callId ?? null;
};
window.historyText = () => window.session.history.map((item) => ({
  role: item.role,
  text: (item.content ?? []).map((part) => part.text ?? part.transcript ?? "").join(""),
}));
</script>
</body></html>
"""


@pytest.fixture
def sdk_page_url() -> Iterator[str]:
    """The test page and the SDK bundle, served by their own server (an origin of their own)."""
    bundle = agents_sdk_bundle().read_bytes()

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def script(request: Request) -> Response:
        return Response(bundle, media_type="text/javascript")

    app = Starlette(
        routes=[Route("/sdk.html", page), Route("/openai-realtime-agents.umd.js", script)]
    )
    with serve_in_thread(app) as served:
        yield served.base_url + "/sdk.html"


async def mint(gateway: RunningGateway) -> tuple[str, str]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            gateway.url("/realtime_session"),
            json={"model": "gpt-realtime", "voice": "verse"},
            headers=gateway.auth(),
        )
    assert response.status_code == 200, response.text
    session = response.json()["session"]
    return session["webrtc_url"], session["client_secret"]["value"]


async def eventually(
    operator: OperatorPage, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            log = await operator.page.evaluate("window.sdkLog")
            raise AssertionError(
                f"timed out waiting for {what}; SDK log {log}; console {operator.console[-20:]}"
            )
        await asyncio.sleep(0.05)


async def test_official_sdk_talks_to_the_stub(
    operator: OperatorPage, gateway: RunningGateway, stub: Any, sdk_page_url: str
) -> None:
    page = operator.page
    await page.goto(sdk_page_url)
    url, secret = await mint(gateway)

    call_id = await page.evaluate("([url, key]) => window.startSdk(url, key)", [url, secret])
    assert call_id is not None and call_id.startswith("rtc_"), "the SDK read the Location"
    record = stub.state.record(call_id)
    assert record is not None and record.connected

    # A spoken reply to the user's message; history holds both.
    await page.evaluate("window.session.sendMessage('hello')")
    await eventually(operator, lambda: page.evaluate(f"window.peak > {HEARD_PEAK}"), "speech")
    await eventually(
        operator,
        lambda: page.evaluate("window.sdkLog.includes('audio_stopped')"),
        "the reply to finish",
    )
    history = await page.evaluate("window.historyText()")
    assert {"role": "user", "text": "hello"} in history, history
    replies = [item["text"] for item in history if item["role"] == "assistant"]
    assert replies and "hello" in replies[-1] and "stub" in replies[-1], history
    log = await page.evaluate("window.sdkLog")
    # Over WebRTC the SDK raises `audio_stopped` (from output_audio_buffer.stopped); its
    # `audio_start` comes only with the WebSocket transport's audio deltas.
    assert "history_added" in log and "audio_stopped" in log
    assert not [line for line in log if line.startswith("error")], log

    # interrupt() cuts a reply short.
    await page.evaluate("window.sdkLog.length = 0; window.session.sendMessage('again')")
    await eventually(
        operator,
        lambda: page.evaluate(
            "window.historyText().filter((item) => item.role === 'assistant').length === 2"
        ),
        "the second reply to start",
    )
    await page.evaluate("window.session.interrupt()")
    await eventually(
        operator,
        lambda: asyncio.sleep(0, result="output_audio_buffer.clear" in record.client_events),
        "the SDK's cancel and clear",
    )
    assert "response.cancel" in record.client_events
    assert record.cancelled_responses == 1
    await asyncio.sleep(0.5)  # what was already in flight plays out
    await page.evaluate("window.peak = 0")
    await asyncio.sleep(1.0)
    assert await page.evaluate("window.peak") < HEARD_PEAK / 2, "the reply stopped speaking"
    log = await page.evaluate("window.sdkLog")
    assert not [line for line in log if line.startswith("error")], log

    # close() ends the call at the stub.
    await page.evaluate("window.session.close()")
    await eventually(operator, lambda: asyncio.sleep(0, result=record.ended), "the call to end")
    assert call_id not in stub.state.live_call_ids()
