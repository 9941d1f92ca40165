"""Phone calls in the operator UI, in real Chromium: a call the stub dials to the tenant's number
appears under Tenant calls with its transport (`sip`), its numbers and the time left, and when
the gateway cuts it at its limit the row says why (`max_duration`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.gateway import GatewayFactory
from tests.fixtures.phone import CALLER, NUMBER, dial, phone_gateway
from tests.playwright.conftest import ARTIFACTS, OperatorPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

MAX_CALL_SECONDS = 4
ROW = "document.querySelector('#tenant-calls tr[data-transport=\"sip\"]')"


async def test_a_phone_call_shows_among_the_tenant_calls_until_it_is_cut(
    operator: OperatorPage, gateway_factory: GatewayFactory, phone_stub: Any
) -> None:
    gateway = phone_gateway(gateway_factory, phone_stub, max_call_seconds=MAX_CALL_SECONDS)
    page = operator.page
    await page.goto(gateway.base_url + "/")
    await operator.wait_for_state("idle", timeout=10)
    await page.get_by_label("Gateway key", exact=True).fill(gateway.tenant_key)
    await operator.wait_for(
        "document.getElementById('tenant-calls-note').textContent === 'No live calls.'",
        "the empty list",
        timeout=10,
    )
    await dial(phone_stub)
    await operator.wait_for(f"{ROW}?.dataset.status === 'live'", "the call to show", timeout=10)
    row = page.locator('#tenant-calls tr[data-transport="sip"]')
    cells = await row.locator("td").all_inner_texts()
    assert cells[1] == "sip" and cells[3] == "live"
    assert cells[2] == f"{NUMBER} ← {CALLER}"
    assert cells[4].endswith(" s") and 0 <= int(cells[4].split()[0]) <= MAX_CALL_SECONDS
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "phone-call-live.png"), full_page=True)
    await operator.wait_for(
        f"{ROW}?.dataset.status === 'ended'", "the call to end", timeout=MAX_CALL_SECONDS + 10
    )
    cells = await row.locator("td").all_inner_texts()
    assert cells[5] == "max_duration"
    await page.screenshot(path=str(ARTIFACTS / "phone-call-ended.png"), full_page=True)
