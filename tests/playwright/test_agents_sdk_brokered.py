"""OpenAI's browser SDK (`@openai/agents-realtime`) through a brokered gateway: pointed at
`webrtc_url` with the call token as its `apiKey`, from a page of another origin, it posts its
offer (multipart, with its `X-OpenAI-Agents-SDK` header) to the gateway and talks to the stub
without ever holding a provider credential.

The SDK's WebRTC transport refuses, in a browser, any key that does not start with `ek_` (an
OpenAI ephemeral key) unless `useInsecureApiKey: true` is set. Call tokens begin `ek_rtg_`, so
the page is the SDK's own, unchanged: no such option.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tests.fixtures.gateway import GatewayFactory, wired_to
from tests.fixtures.servers import serve_in_thread
from tests.playwright.agents_sdk import agents_sdk_bundle
from tests.playwright.conftest import OperatorPage
from tests.playwright.test_agents_sdk import HEARD_PEAK, PAGE, eventually

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

BROKERED_PAGE = PAGE


@pytest.fixture
def brokered_sdk_page() -> Iterator[str]:
    """The SDK test page, on an origin of its own, with the call token accepted as `apiKey`."""
    assert "useInsecureApiKey" not in BROKERED_PAGE
    bundle = agents_sdk_bundle().read_bytes()

    async def page(request: Request) -> Response:
        return HTMLResponse(BROKERED_PAGE)

    async def script(request: Request) -> Response:
        return Response(bundle, media_type="text/javascript")

    app = Starlette(
        routes=[Route("/sdk.html", page), Route("/openai-realtime-agents.umd.js", script)]
    )
    with serve_in_thread(app) as served:
        yield served.base_url + "/sdk.html"


async def test_official_sdk_connects_through_a_brokered_gateway(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any, brokered_sdk_page: str
) -> None:
    parts = urlsplit(brokered_sdk_page)
    gateway = gateway_factory(
        **wired_to(stub, call_mode="brokered", cors_origins=[f"{parts.scheme}://{parts.netloc}"])
    )
    async with httpx.AsyncClient(timeout=10) as http:
        minted = await http.post(
            gateway.url("/realtime_session"),
            json={"model": "gpt-realtime", "voice": "verse"},
            headers=gateway.auth(),
        )
    session = minted.json()["session"]
    token = session["client_secret"]["value"]
    assert token.startswith("ek_rtg_") and session["webrtc_url"] == gateway.url("/realtime_calls")

    page = operator.page
    await page.goto(brokered_sdk_page)
    call_id = await page.evaluate(
        "([url, key]) => window.startSdk(url, key)", [session["webrtc_url"], token]
    )
    assert call_id is not None and call_id.startswith("call_"), "the gateway's id, from Location"
    [record] = stub.state.calls
    assert record.connected and stub.state.mint_count == 0

    await page.evaluate("window.session.sendMessage('hello')")
    await eventually(operator, lambda: page.evaluate(f"window.peak > {HEARD_PEAK}"), "speech")
    await eventually(
        operator,
        lambda: page.evaluate("window.sdkLog.includes('audio_stopped')"),
        "the reply to finish",
    )
    history = await page.evaluate("window.historyText()")
    assert {"role": "user", "text": "hello"} in history, history
    log = await page.evaluate("window.sdkLog")
    assert not [line for line in log if line.startswith("error")], log

    # The page can read and end its own call with the token that created it.
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await http.get(f"/realtime_calls/{call_id}", headers=bearer)).json()[
            "status"
        ] == "live"
        ended = await http.delete(f"/realtime_calls/{call_id}", headers=bearer)
    assert ended.json()["ended_reason"] == "caller_hangup"
    await eventually(
        operator, lambda: _async(record.ended), "the provider's call to end", timeout=10
    )
    await page.evaluate("window.session.close()")


async def _async(value: bool) -> bool:
    return value


async def test_official_sdk_on_the_v1_surface_without_use_insecure_api_key(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any, brokered_sdk_page: str
) -> None:
    """The SDK as an OpenAI app uses it, but for `baseUrl`: the key minted by the app's server
    at `/v1/realtime/client_secrets`, the offer posted to `/v1/realtime/calls`; speech,
    `sendMessage`, `interrupt`, `close`, and the call's end recorded by the gateway."""
    parts = urlsplit(brokered_sdk_page)
    gateway = gateway_factory(**wired_to(stub, cors_origins=[f"{parts.scheme}://{parts.netloc}"]))
    async with httpx.AsyncClient(timeout=10) as http:
        minted = await http.post(
            gateway.url("/v1/realtime/client_secrets"),
            json={"session": {"type": "realtime", "model": "gpt-realtime"}},
            headers=gateway.auth(),
        )
    assert minted.status_code == 200, minted.text
    key = minted.json()["value"]
    assert key.startswith("ek_")

    page = operator.page
    await page.goto(brokered_sdk_page)
    call_id = await page.evaluate(
        "([url, key]) => window.startSdk(url, key)", [gateway.url("/v1/realtime/calls"), key]
    )
    assert call_id is not None and call_id.startswith("call_"), "the gateway's id, from Location"
    [record] = stub.state.calls
    assert record.connected and stub.state.mint_count == 0

    await page.evaluate("window.session.sendMessage('hello')")
    await eventually(operator, lambda: page.evaluate(f"window.peak > {HEARD_PEAK}"), "speech")
    await page.evaluate("window.session.interrupt()")
    await eventually(
        operator,
        lambda: _async("response.cancel" in record.client_events),
        "the SDK's cancel",
    )
    log = await page.evaluate("window.sdkLog")
    assert not [line for line in log if line.startswith("error")], log

    await page.evaluate("window.session.close()")
    await eventually(operator, lambda: _async(record.ended), "the provider's call to end")

    async def ended_reason() -> bool:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
            state = (await http.get(f"/realtime_calls/{call_id}", headers=gateway.auth())).json()
        return state["status"] == "ended" and state["ended_reason"] == "provider_closed"

    await eventually(operator, ended_reason, "the gateway to record the end", timeout=15)
