"""The operator page, hardened: the tenant key stays in the tab unless the operator asks the
device to remember it; a refused offer says when to try again; in brokered mode a failure is
the gateway's, not "the provider's"; hanging up a brokered call is asked again while the gateway
briefly answers 503 (its Redis away)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.call_stores import open_call
from tests.fixtures.gateway import GatewayFactory, wired_to
from tests.fixtures.servers import RedisServer, free_port
from tests.integration.reset_proxy import reset_proxy
from tests.playwright.conftest import OperatorPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

KEY_FIELD = "Gateway key"
REMEMBER = "Remember the key on this device"


async def start_call(operator: OperatorPage, base_url: str, key: str, until: str) -> None:
    page = operator.page
    await page.goto(base_url + "/")
    await operator.wait_for_state("idle", timeout=10)
    await page.get_by_label(KEY_FIELD, exact=True).fill(key)
    await page.get_by_role("button", name="Enable microphone").click()
    await operator.wait_for_state(until, timeout=20)


async def test_the_key_stays_in_the_tab_unless_the_device_is_to_remember_it(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any
) -> None:
    gateway = gateway_factory(**wired_to(stub))
    page = operator.page
    await page.goto(gateway.base_url + "/")
    await page.get_by_label(KEY_FIELD, exact=True).fill(gateway.tenant_key)
    await page.get_by_label("Voice", exact=True).fill("marin")
    stored = await page.evaluate("JSON.stringify(localStorage)")
    assert gateway.tenant_key not in stored and "marin" in stored
    await page.reload()  # the same tab: still there
    assert await page.get_by_label(KEY_FIELD, exact=True).input_value() == gateway.tenant_key

    other = await page.context.new_page()  # another tab: not there; the other settings are
    await other.goto(gateway.base_url + "/")
    assert await other.get_by_label(KEY_FIELD, exact=True).input_value() == ""
    assert await other.get_by_label("Voice", exact=True).input_value() == "marin"

    await page.get_by_label(REMEMBER).check()
    third = await page.context.new_page()
    await third.goto(gateway.base_url + "/")
    assert await third.get_by_label(KEY_FIELD, exact=True).input_value() == gateway.tenant_key
    assert await third.get_by_label(REMEMBER).is_checked()

    await third.get_by_label(REMEMBER).uncheck()  # forgotten by the device again
    assert gateway.tenant_key not in await third.evaluate("JSON.stringify(localStorage)")
    for extra in (other, third):
        await extra.close()


async def test_a_refused_offer_says_when_to_try_again(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any, redis_url: str
) -> None:
    """The offer is refused with `quota_exceeded` and a `Retry-After` to midnight."""
    gateway = gateway_factory(
        **wired_to(stub, call_mode="brokered", redis_url=redis_url, daily_audio_seconds=1)
    )
    store = RedisCallStore(make_client(redis_url), owns_client=True)
    try:
        spec = CallSpec("openai", stub.base_url + "/v1/realtime/calls", "gpt-realtime", "verse")
        spent = await open_call(store, policy=TenantPolicy(daily_audio_seconds=1), spec=spec)
        await store.add_usage("acme", spent.call_id, UsageReport(audio_ms=2000))
        await store.end("acme", spent.call_id, "caller_hangup", "op")
    finally:
        await store.aclose()
    await start_call(operator, gateway.base_url, gateway.tenant_key, until="error")
    page = operator.page
    assert await page.locator("#error-code").inner_text() == "quota_exceeded"
    hint = await page.locator("#retry-hint").inner_text()
    assert "try again in" in hint.lower(), await operator.dump()


async def test_in_brokered_mode_an_unreachable_offer_is_the_gateways(
    operator: OperatorPage, gateway_factory: GatewayFactory, stub: Any
) -> None:
    """The offer goes to the gateway in brokered mode: when it cannot be reached, the page says
    so, not that the provider could not be reached."""
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gateway = gateway_factory(**wired_to(stub, call_mode="brokered", public_url=nowhere))
    await start_call(operator, gateway.base_url, gateway.tenant_key, until="error")
    message = await operator.page.locator("#error-message").inner_text()
    assert message.startswith("The gateway could not be reached"), await operator.dump()
    assert "provider" not in message.lower()


async def test_hanging_up_is_asked_again_while_the_gateway_answers_503(
    operator: OperatorPage,
    gateway_factory: GatewayFactory,
    stub: Any,
    redis_server: RedisServer,
    redis_url: str,
) -> None:
    async with reset_proxy(redis_server.port) as proxy:
        gateway = gateway_factory(
            **wired_to(stub, call_mode="brokered", redis_url=proxy.url, limiter_failure_mode="deny")
        )
        await start_call(operator, gateway.base_url, gateway.tenant_key, until="connected")
        hang_ups: list[int] = []
        operator.page.on(
            "response",
            lambda response: (
                hang_ups.append(response.status)
                if response.request.method == "DELETE" and "/realtime_calls/" in response.url
                else None
            ),
        )
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.auth()) as http:
            [live] = (await http.get("/realtime_calls")).json()["calls"]
            proxy.go_down()  # Redis away: the gateway answers the hang-up 503
            await operator.page.get_by_role("button", name="Hang up").click()
            await operator.wait_for_state("idle")
            await asyncio.sleep(0.3)
            proxy.down = False  # back before the page gives up
            deadline = time.monotonic() + 15
            view = (await http.get(f"/realtime_calls/{live['id']}")).json()
            while (view.get("status") != "ended" or 200 not in hang_ups) and (
                time.monotonic() < deadline
            ):
                await asyncio.sleep(0.1)
                view = (await http.get(f"/realtime_calls/{live['id']}")).json()
    # Asked again until answered: 503 while Redis was away, then 200.
    assert hang_ups[0] == 503 and hang_ups[-1] == 200, hang_ups
    assert set(hang_ups[1:-1]) <= {503}, hang_ups
    # The page also closed its peer: the provider may end the call first (provider_closed), or
    # the repeated hang-up does (caller_hangup); either way it is ended, once.
    assert view["status"] == "ended", view
    assert view["ended_reason"] in ("caller_hangup", "provider_closed"), view
