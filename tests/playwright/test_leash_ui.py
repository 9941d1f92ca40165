"""The leash in the operator UI, in real Chromium: a brokered call shows the time left before
its deadline and the tenant's audio budget left, counting down, and when the gateway hangs the
call up at its deadline the page says why ("ended: max_duration")."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fixtures.gateway import GatewayFactory, wired_to
from tests.playwright.conftest import ARTIFACTS, OperatorPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

MAX_CALL_SECONDS = 6


async def seconds_shown(operator: OperatorPage, element_id: str) -> int:
    shown = (await operator.page.locator(f"#{element_id}").inner_text()).strip()
    match = re.fullmatch(r"(\d+) s", shown)
    assert match, f"#{element_id} reads {shown!r}\n{await operator.dump()}"
    return int(match.group(1))


async def test_countdown_and_ended_max_duration(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any
) -> None:
    gateway = gateway_factory(
        **wired_to(
            stub,
            call_mode="brokered",
            max_call_seconds=MAX_CALL_SECONDS,
            daily_audio_seconds=3600,
        )
    )
    page = operator.page
    await page.goto(gateway.base_url + "/")
    await operator.wait_for_state("idle", timeout=10)
    await page.get_by_label("Gateway key", exact=True).fill(gateway.tenant_key)
    await page.get_by_label("Model", exact=True).fill("gpt-realtime")
    await page.get_by_label("Voice", exact=True).fill("verse")
    await page.get_by_role("button", name="Enable microphone").click()
    await operator.wait_for_state("connected", timeout=15)

    await operator.wait_for(
        "/^\\d+ s$/.test(document.getElementById('time-left').textContent)",
        "the time left to show",
        timeout=5,
    )
    first = await seconds_shown(operator, "time-left")
    assert 0 < first <= MAX_CALL_SECONDS
    budget = await seconds_shown(operator, "budget-left")
    assert 3600 - MAX_CALL_SECONDS <= budget <= 3600
    await operator.wait_for(
        f"parseInt(document.getElementById('time-left').textContent) < {first}",
        "the time left to count down",
        timeout=5,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "leash-countdown.png"), full_page=True)

    await operator.wait_for(
        "window.realtimeGateway.endedReason !== null",
        "the gateway to end the call",
        timeout=MAX_CALL_SECONDS + 10,
    )
    await operator.wait_for_state("idle", timeout=5)
    detail = await page.locator("#state-detail").inner_text()
    assert "ended: max_duration" in detail, detail
    assert await page.get_by_role("button", name="Enable microphone").is_visible()
    assert stub.state.calls[-1].ended  # hung up at the provider
    await page.screenshot(path=str(ARTIFACTS / "leash-ended.png"), full_page=True)
