"""What the console tells a newcomer: a refused key points at the key field; a rate limit states
the retry time once, in the countdown; the event log shows whole rows as it follows a call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.gateway import RunningGateway
from tests.playwright.conftest import OperatorPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def start_call_with_key(
    operator: OperatorPage, gateway: RunningGateway, key: str, until: str = "error"
) -> None:
    page = operator.page
    await page.goto(gateway.base_url + "/")
    await operator.wait_for_state("idle", timeout=10)
    await page.get_by_label("Gateway key", exact=True).fill(key)
    await page.get_by_role("button", name="Enable microphone").click()
    await operator.wait_for_state(until, timeout=15)


async def test_refused_key_points_at_the_key_field_until_edited(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    page = operator.page
    await start_call_with_key(operator, gateway, "rtg_a_key_from_an_earlier_demo_run")
    key_field = page.get_by_label("Gateway key", exact=True)

    assert await page.locator("#error-code").inner_text() == "unauthorized"
    assert await key_field.evaluate("field => field === document.activeElement")
    assert await key_field.get_attribute("aria-invalid") == "true"
    hint = await page.locator("#gateway-key-hint").inner_text()
    assert "refused" in hint, await operator.dump()
    # Nothing empty sits between the call bar and the error box.
    assert not await page.locator("#state-detail").is_visible()

    await key_field.fill(gateway.tenant_key)
    assert await key_field.get_attribute("aria-invalid") is None
    assert "refused" not in await page.locator("#gateway-key-hint").inner_text()


async def test_rate_limit_states_the_retry_time_once(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    limit, _ = gateway.settings.default_rate()
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        for _ in range(limit):
            response = await client.post(
                "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers=gateway.auth(),
            )
            assert response.status_code == 200, response.text
    await start_call_with_key(operator, gateway, gateway.tenant_key)

    page = operator.page
    assert await page.locator("#error-code").inner_text() == "rate_limited"
    shown = (await page.get_by_role("alert").inner_text()).lower()
    assert shown.count("try again") == 1, shown
    assert "try again in" in (await page.locator("#retry-hint").inner_text()).lower()
    # The gateway's own words about the limit are kept.
    assert "sessions per 60 s" in await page.locator("#error-message").inner_text()
    # A rate limit is not the key's fault.
    assert await page.get_by_label("Gateway key", exact=True).get_attribute("aria-invalid") is None


# Rows are measured on screen (getBoundingClientRect, in fractions of a pixel) against the
# log's visible box: offsetTop and offsetHeight are rounded, so with rows of fractional height a
# row could seem to overlap the next by a pixel. "Cut" means by more than one pixel.
ROWS_IN_VIEW_JS = """() => {
  const log = document.getElementById("event-log");
  const rows = [...log.children];
  const box = log.getBoundingClientRect();
  const top = box.top + log.clientTop, bottom = top + log.clientHeight;
  const first = rows.find((row) => row.getBoundingClientRect().bottom > top + 1);
  const last = rows[rows.length - 1];
  return {
    scrolled: log.scrollTop > 0,
    firstCut: first ? first.getBoundingClientRect().top < top - 1 : false,
    lastHidden: last ? last.getBoundingClientRect().bottom > bottom + 1 : true,
    overflowing: rows.some((row) => row.scrollWidth > row.clientWidth + 1),
    pageScrolled: window.scrollY,
  };
}"""


async def test_event_log_follows_the_newest_without_cutting_its_first_row(
    operator: OperatorPage, gateway: RunningGateway, stub: Any
) -> None:
    page = operator.page
    await page.set_viewport_size({"width": 1280, "height": 600})
    # A reply is about twenty events; a log a third of its usual height must then scroll.
    await page.add_init_script(
        "addEventListener('DOMContentLoaded', () =>"
        " { document.getElementById('event-log').style.maxHeight = '10rem'; })"
    )
    await start_call_with_key(operator, gateway, gateway.tenant_key, until="connected")
    await operator.wait_for(
        "(() => { const log = document.getElementById('event-log');"
        " return log.scrollHeight > log.clientHeight * 1.5; })()",
        "the event log to overflow",
        timeout=15,
    )
    # The reply's end is logged, whether it ran whole or the fake microphone's tone cut it
    # short through the stub's voice detection (either way some eighteen rows or more).
    await operator.wait_for(
        "document.getElementById('event-log').textContent.includes('response.done')",
        "the reply's end in the event log",
        timeout=15,
    )
    view = await page.evaluate(ROWS_IN_VIEW_JS)
    assert view["scrolled"], view
    assert not view["firstCut"], view
    assert not view["lastHidden"], view
    assert not view["overflowing"], view
    assert view["pageScrolled"] == 0, view  # only the log scrolled, not the page
