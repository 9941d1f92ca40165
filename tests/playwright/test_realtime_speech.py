"""The operator's flow in real Chromium: settings, microphone, mint, WebRTC, speech heard.

The gateway and the offline stub run for real on 127.0.0.1; Chromium's fake microphone beeps.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.playwright.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, OperatorPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# The page's own peak of the received audio (0..1 of full scale); a spoken reply reaches far
# above this, while decoded silence stays near 0.
HEARD_PEAK = 0.1


async def open_console(operator: OperatorPage, gateway: RunningGateway) -> None:
    await operator.page.goto(gateway.base_url + "/")
    await operator.wait_for_state("idle", timeout=10)


async def fill_settings(
    operator: OperatorPage,
    key: str,
    model: str = "gpt-realtime",
    voice: str = "verse",
    endpoint: str = "",
) -> None:
    page = operator.page
    await page.get_by_label("Gateway key", exact=True).fill(key)
    await page.get_by_label("Model", exact=True).fill(model)
    await page.get_by_label("Voice", exact=True).fill(voice)
    await page.get_by_label("Endpoint").fill(endpoint)


async def enable_microphone(operator: OperatorPage) -> None:
    await operator.page.get_by_role("button", name="Enable microphone").click()


async def wait_until(check: Any, what: str, operator: OperatorPage, timeout: float = 10.0) -> None:
    """Poll a Python-side condition (the stub's records) with a deadline, then explain."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}\n{await operator.dump()}"
            )
        await asyncio.sleep(0.05)


async def error_shown(operator: OperatorPage) -> tuple[str, str]:
    page = operator.page
    alert = page.get_by_role("alert")
    assert await alert.is_visible(), f"no error shown\n{await operator.dump()}"
    return (
        await page.locator("#error-code").inner_text(),
        await page.locator("#error-message").inner_text(),
    )


@pytest.mark.parametrize("mode", ["direct", "brokered"])
async def test_operator_hears_speech_and_provider_hears_microphone(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any, mode: str
) -> None:
    gateway = gateway_factory(**wired_to(stub, call_mode=mode))
    page = operator.page
    await open_console(operator, gateway)
    await fill_settings(operator, gateway.tenant_key, model="gpt-realtime", voice="verse")

    await enable_microphone(operator)
    await operator.wait_for_state("connected", timeout=15)
    await operator.wait_for(
        f"window.realtimeGateway.peakOutputLevel > {HEARD_PEAK}", "speech to be heard", timeout=10
    )
    # The stub's greeting begins "The offline stub": the fake microphone may speak over it and
    # its voice detection cut it short, so its first words are what is sure to be shown.
    await operator.wait_for(
        "/offline/i.test(document.getElementById('transcript').textContent)",
        "the transcript to show the stub's words",
        timeout=10,
    )
    await operator.wait_for("window.realtimeGateway.firstAudioMs !== null", "first audio", 5)

    shown = await page.locator("#first-audio-ms").inner_text()
    match = re.fullmatch(r"(\d+) ms", shown.strip())
    assert match, f"click-to-first-audio reads {shown!r}\n{await operator.dump()}"
    first_audio_ms = int(match.group(1))
    connected_ms = int((await page.locator("#connected-ms").inner_text()).removesuffix(" ms"))
    print(
        f"\nclick-to-connected: {connected_ms} ms, click-to-first-audio: {first_audio_ms} ms"
        " (measured in the page)"
    )
    assert 0 < connected_ms <= first_audio_ms < 10_000
    phases = await page.evaluate(
        "performance.getEntriesByType('mark').filter(m => m.name.startsWith('rtg:'))"
        ".map(m => `${m.name.slice(4)}=${m.detail}`).join(' ')"
    )
    print(f"phases after the click, ms: {phases}")

    assert await page.get_by_role("button", name="Hang up").is_visible()
    assert await page.locator("#microphone-state").inner_text() == "in use"
    assert re.fullmatch(r"sess_\w+", (await page.locator("#session-id").inner_text()).strip())
    assert int(await page.locator("#event-count").inner_text()) > 0

    call = stub.state.calls[-1]
    assert (call.model, call.voice) == ("gpt-realtime", "verse")
    await wait_until(lambda: call.input_frames_received > 0, "the stub to hear the mic", operator)
    await wait_until(lambda: call.input_rms_max > 0, "mic audio above silence", operator)

    assert (await page.locator("#call-mode").inner_text()).strip() == mode
    assert stub.state.mint_count == (1 if mode == "direct" else 0)

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"connected-{mode}.png"), full_page=True)
    if mode == "brokered":
        await assert_hang_up_ends_brokered_call(operator, gateway, call)
    # The whole call ran under the page's Content-Security-Policy without tripping it.
    assert not [line for line in operator.console if "Content Security Policy" in line]


async def assert_hang_up_ends_brokered_call(
    operator: OperatorPage, gateway: RunningGateway, stub_call: Any
) -> None:
    """Hang up in the page: the gateway records the caller's hangup and ends the provider's
    call, which it could not do had the page held a provider secret."""
    async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.auth()) as http:
        [live] = (await http.get("/realtime_calls")).json()["calls"]
        await operator.page.get_by_role("button", name="Hang up").click()
        await operator.wait_for_state("idle")
        deadline = time.monotonic() + 10
        view = (await http.get(f"/realtime_calls/{live['id']}")).json()
        while view["status"] != "ended" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            view = (await http.get(f"/realtime_calls/{live['id']}")).json()
    assert (view["status"], view["ended_reason"]) == ("ended", "caller_hangup"), view
    await wait_until(lambda: stub_call.ended, "the provider's call to end", operator)


async def test_wrong_gateway_key_shows_unauthorized(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    page = operator.page
    await open_console(operator, gateway)
    await fill_settings(operator, "rtg_not_a_key_of_this_gateway")

    # The keyboard alone starts a call: focus the button, press Enter.
    await page.get_by_role("button", name="Enable microphone").focus()
    await page.keyboard.press("Enter")
    await operator.wait_for_state("error")

    code, message = await error_shown(operator)
    assert code == "unauthorized", await operator.dump()
    assert message.strip(), await operator.dump()
    assert await page.get_by_role("button", name="Enable microphone").is_visible()
    assert await page.locator("#microphone-state").inner_text() == "released"
    assert stub.state.mint_requests == 0 and stub.state.calls == []


async def test_fourth_mint_in_a_minute_is_rate_limited(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    limit, window = gateway.settings.tenant_rates().get(
        gateway.tenant, gateway.settings.default_rate()
    )
    assert (limit, window) == (3, 60), "this test spends the default 3/minute"
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        for _ in range(limit):
            response = await client.post(
                "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers=gateway.auth(),
            )
            assert response.status_code == 200, response.text

    page = operator.page
    await open_console(operator, gateway)
    await fill_settings(operator, gateway.tenant_key)
    await enable_microphone(operator)
    await operator.wait_for_state("error")

    code, _ = await error_shown(operator)
    assert code == "rate_limited", await operator.dump()
    hint = page.locator("#retry-hint")
    first = re.search(r"Try again in (\d+) s", await hint.inner_text())
    assert first, f"no retry countdown\n{await operator.dump()}"
    seconds = int(first.group(1))
    assert 1 <= seconds <= 60
    # It counts down while the operator waits.
    await operator.wait_for(
        "(() => { const m = /Try again in (\\d+) s/.exec(document.getElementById('retry-hint')"
        f".textContent); return m && Number(m[1]) < {seconds}; }})()",
        "the retry countdown to tick",
        timeout=3,
    )
    assert len(stub.state.calls) == 0


async def test_provider_failure_shows_provider_error(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    stub.state.set_fault(status=500)
    await open_console(operator, gateway)
    await fill_settings(operator, gateway.tenant_key)
    await enable_microphone(operator)
    await operator.wait_for_state("error")

    code, message = await error_shown(operator)
    assert code == "provider_error", await operator.dump()
    assert "500" in message, await operator.dump()
    assert stub.state.calls == []


async def test_hang_up_returns_to_idle_and_ends_the_call(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    page = operator.page
    await open_console(operator, gateway)
    await fill_settings(operator, gateway.tenant_key)
    await enable_microphone(operator)
    await operator.wait_for_state("connected", timeout=15)
    call = stub.state.calls[-1]
    await wait_until(lambda: call.connected, "the stub to see the call connected", operator)

    await page.get_by_role("button", name="Hang up").click()
    await operator.wait_for_state("idle", timeout=5)
    assert await page.get_by_role("button", name="Enable microphone").is_visible()
    await wait_until(lambda: call.ended, "the stub to record the call ended", operator, 10)
    # The microphone is released: the page reads its tracks' own state.
    assert await page.locator("#microphone-state").inner_text() == "released"
    assert await page.evaluate("window.realtimeGateway.microphone") == "released"


async def test_settings_survive_a_reload_and_are_used(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    page = operator.page
    await open_console(operator, gateway)
    known_voices = await page.locator("#known-voices option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert {"alloy", "verse", "marin", "cedar"} <= set(known_voices)
    # Values outside the datalists are accepted: a model or voice newer than this page.
    await fill_settings(
        operator,
        gateway.tenant_key,
        model="gpt-4o-mini-realtime-preview",
        voice="custom-voice",
        endpoint=stub.beta_endpoint,
    )

    await page.reload()
    await operator.wait_for_state("idle")
    assert await page.get_by_label("Gateway key", exact=True).input_value() == gateway.tenant_key
    assert await page.get_by_label("Model", exact=True).input_value() == (
        "gpt-4o-mini-realtime-preview"
    )
    assert await page.get_by_label("Voice", exact=True).input_value() == "custom-voice"
    assert await page.get_by_label("Endpoint").input_value() == stub.beta_endpoint

    # The stored settings are the ones a call uses, through the beta-shaped endpoint.
    await enable_microphone(operator)
    await operator.wait_for_state("connected", timeout=15)
    call = stub.state.calls[-1]
    assert (call.model, call.voice) == ("gpt-4o-mini-realtime-preview", "custom-voice")


async def test_expired_secret_is_minted_again_once(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    page = operator.page
    offers: list[str] = []

    async def expire_first_secret(route: Any) -> None:
        # The provider's clock jumps an hour just as the first offer leaves the browser, so
        # the secret minted for it has really expired when the stub checks it.
        offers.append(route.request.headers.get("authorization", ""))
        if len(offers) == 1:
            stub.state.advance_clock(3600)
        await route.continue_()

    await page.route(f"{stub.base_url}/v1/realtime/calls**", expire_first_secret)
    await open_console(operator, gateway)
    await fill_settings(operator, gateway.tenant_key)
    await enable_microphone(operator)
    await operator.wait_for_state("connected", timeout=15)

    assert len(offers) == 2, await operator.dump()
    assert offers[0] != offers[1], "the retry must carry a freshly minted secret"
    assert stub.state.mint_count == 2
    assert len(stub.state.calls) == 1


async def test_refused_microphone_is_explained(gateway: RunningGateway, stub: Any) -> None:
    # A browser without the fake permission UI, whose profile never granted the microphone:
    # the operator's refusal, as Chromium reports it.
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args, timeout=30_000
        )
        try:
            context = await browser.new_context()
            operator = OperatorPage(await context.new_page())
            await open_console(operator, gateway)
            await fill_settings(operator, gateway.tenant_key)
            await enable_microphone(operator)
            await operator.wait_for_state("error")
            code, message = await error_shown(operator)
        finally:
            await browser.close()
    assert code == "microphone_denied", message
    assert "microphone" in message.lower()
    assert stub.state.mint_requests == 0, "no secret is minted without a microphone"


async def test_live_model_is_offered_and_speaks_through_a_brokered_call(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    """The gateway's default mode is direct, yet a Live model is brokered: the Live API has no
    ephemeral secret to hand a browser."""
    page = operator.page
    await open_console(operator, gateway)
    offered = await page.locator("#known-models option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert "gpt-live-1" in offered, offered
    await fill_settings(operator, gateway.tenant_key, model="gpt-live-1", voice="marin")
    await enable_microphone(operator)
    await operator.wait_for_state("connected", timeout=15)
    assert (await page.locator("#call-mode").inner_text()).strip() == "brokered"
    await operator.wait_for(
        f"window.realtimeGateway.peakOutputLevel > {HEARD_PEAK}", "Live speech heard", timeout=10
    )
    await operator.wait_for(
        "/offline/i.test(document.getElementById('transcript').textContent)",
        "the Live transcript to show the stub's words",
        timeout=10,
    )
    [call] = stub.state.calls
    assert (call.kind, call.model, call.voice) == ("live", "gpt-live-1", "marin")
    assert stub.state.mint_count == 0
    assert not [line for line in operator.console if "Content Security Policy" in line]
