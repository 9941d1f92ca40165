"""The admin console in real Chromium, against a `serve` process with the admin listener and
the offline stub: create a tenant and issue a key from the page and see the key work, see a
live call and hang it up from the page and see it end, and the usage chart count the calls."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from playwright.async_api import BrowserContext, expect

from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub, ToneTrack
from tests.integration.test_control_plane_replicas import ADMIN_TOKEN, admin_url, make_call

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_console_issues_a_key_hangs_up_a_call_and_charts_usage(
    context: BrowserContext, stub: RunningStub, tmp_path: Path
) -> None:
    env = {
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "100/minute",
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_ADMIN_PORT": "0",
    }
    pcs: list[RTCPeerConnection] = []
    with gateway_process(tmp_path, env) as gateway:
        admin = admin_url(gateway)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            await page.goto(admin + "/")
            await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
            await page.get_by_role("button", name="Connect").click()
            await expect(page.get_by_role("status")).to_contain_text("connected", timeout=10_000)

            await page.get_by_label("Name").fill("initech")
            await page.get_by_label("Policy (JSON)").fill('{"max_call_seconds": 120}')
            await page.get_by_role("button", name="Create tenant").click()
            row = page.locator("#tenants tr[data-tenant='initech']")
            await expect(row).to_contain_text("120", timeout=10_000)
            await page.get_by_role("button", name="Issue key for initech").click()
            shown = page.locator("#new-key-value")
            await expect(shown).to_contain_text("rtg_live_", timeout=10_000)
            key = (await shown.inner_text()).strip()
            await expect(page.locator("#keys tbody tr")).to_have_count(1, timeout=10_000)

            async with httpx.AsyncClient(timeout=20) as http:
                usage = await http.get(
                    gateway.base_url + "/usage", headers={"Authorization": f"Bearer {key}"}
                )
                assert usage.status_code == 200, usage.text
                locations = []
                for _ in range(2):
                    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                    pcs.append(pc)
                    pc.createDataChannel("oai-events")
                    pc.addTrack(ToneTrack(0.2))
                    await pc.setLocalDescription(await pc.createOffer())
                    locations.append(await make_call(http, gateway, key, pc.localDescription.sdp))
                call_id = locations[-1].rsplit("/", 1)[1]
                await page.get_by_role("button", name="Refresh").click()
                call_row = page.locator(f"#calls tr[data-call='{call_id}']")
                await expect(call_row).to_contain_text("initech", timeout=10_000)
                await expect(call_row).to_contain_text("webrtc")
                await page.get_by_role("button", name=f"Hang up {call_id}").click()
                await expect(call_row).to_have_count(0, timeout=10_000)
                view = await http.get(
                    gateway.base_url + locations[-1], headers={"Authorization": f"Bearer {key}"}
                )
                assert view.json()["status"] == "ended"
                assert view.json()["ended_reason"] == "gateway_hangup"
                await http.delete(
                    gateway.base_url + locations[0], headers={"Authorization": f"Bearer {key}"}
                )
            await page.get_by_role("button", name="Refresh").click()
            today = page.locator("#usage-chart .bar").last
            await expect(today).to_have_attribute("data-calls", "2", timeout=10_000)
            await expect(page.locator("#usage tbody")).to_contain_text("initech")
            assert errors == []
        finally:
            for pc in pcs:
                await pc.close()
            with contextlib.suppress(Exception):
                await page.close()
