"""The control plane on two `serve` replicas sharing one real redis-server: a key issued
through one replica's admin listener works on the other within 1 s, a revoked one is refused by
both within 1 s, a policy change holds for the next call on both, and disabling a tenant hangs
up its live call. The admin listener takes only the admin token; the tenant listener has no
admin route."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.stub import RunningStub, ToneTrack

ADMIN_TOKEN = "rtg_test_admin_token_0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BODY = {"model": "gpt-realtime", "voice": "verse"}
ADMIN_LINE = re.compile(r"realtime-gateway admin on (http://[^\s/]+:\d+)/")
WITHIN = 1.0  # seconds: the control plane's promise


def admin_url(gateway: GatewayProcess) -> str:
    found = ADMIN_LINE.search(gateway.output())
    assert found, gateway.output()
    return found.group(1)


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Poll `check` until it holds; how long it took. Fails past `seconds` (plus a margin for
    the poll's own round trips on a loaded machine is not given: the promise is `seconds`)."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"did not hold within {seconds} s"
        await asyncio.sleep(0.02)


async def offer_sdp() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTrack(ToneTrack(0.2))
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def make_call(http: httpx.AsyncClient, replica: GatewayProcess, key: str, sdp: str) -> str:
    minted = await http.post(
        replica.base_url + "/realtime_session",
        json=BODY,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert minted.status_code == 200, minted.text
    token = minted.json()["session"]["client_secret"]["value"]
    created = await http.post(
        replica.base_url + "/realtime_calls",
        content=sdp,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
    )
    assert created.status_code == 201, created.text
    return str(created.headers["location"])


def call_seconds(view: dict[str, str]) -> float:
    started = datetime.fromisoformat(view["started_at"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(view["deadline"].replace("Z", "+00:00"))
    return (deadline - started).total_seconds()


async def test_tenant_life_across_two_replicas(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "1000/minute",
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_ADMIN_PORT": "0",
    }
    pcs: list[RTCPeerConnection] = []
    with contextlib.ExitStack() as stack:
        first, second = (stack.enter_context(gateway_process(tmp_path, env)) for _ in range(2))
        admin_one, admin_two = admin_url(first), admin_url(second)
        try:
            async with httpx.AsyncClient(timeout=20) as http:
                created = await http.post(
                    admin_one + "/admin/v1/tenants",
                    json={"name": "initech", "policy": {"max_call_seconds": 30}},
                    headers=ADMIN,
                )
                assert created.status_code == 201, created.text
                assert created.json()["source"] == "runtime"
                again = await http.post(
                    admin_two + "/admin/v1/tenants", json={"name": "initech"}, headers=ADMIN
                )
                assert again.status_code == 409
                assert again.json()["error_code"] == "conflict"

                issued = await http.post(
                    admin_one + "/admin/v1/tenants/initech/keys", headers=ADMIN
                )
                assert issued.status_code == 201, issued.text
                key, key_id = issued.json()["key"], issued.json()["id"]
                assert key.startswith(issued.json()["prefix"])
                bearer = {"Authorization": f"Bearer {key}"}

                async def accepted_by(replica: GatewayProcess) -> bool:
                    answer = await http.get(replica.base_url + "/usage", headers=bearer)
                    return answer.status_code == 200

                await within(WITHIN, lambda: accepted_by(second))
                assert await accepted_by(first)

                # The key is listed by its prefix, never shown again.
                listed = await http.get(admin_two + "/admin/v1/tenants/initech/keys", headers=ADMIN)
                assert [k["id"] for k in listed.json()["keys"]] == [key_id]
                for path in ("/admin/v1/tenants", "/admin/v1/tenants/initech/keys"):
                    shown = await http.get(admin_two + path, headers=ADMIN)
                    assert key not in shown.text and stub.api_key not in shown.text
                    assert TENANT_KEY not in shown.text

                # A policy change through the second holds for the next call on both.
                pc, sdp = await offer_sdp()
                pcs.append(pc)
                location = await make_call(http, first, key, sdp)
                view = (await http.get(first.base_url + location, headers=bearer)).json()
                assert call_seconds(view) == 30
                await http.delete(first.base_url + location, headers=bearer)
                changed = await http.patch(
                    admin_two + "/admin/v1/tenants/initech",
                    json={"policy": {"max_call_seconds": 45}},
                    headers=ADMIN,
                )
                assert changed.status_code == 200, changed.text
                assert changed.json()["effective"]["max_call_seconds"] == 45

                async def policy_on(replica: GatewayProcess) -> bool:
                    answer = await http.get(replica.base_url + "/usage", headers=bearer)
                    return bool(answer.json()["limits"]["max_call_seconds"] == 45)

                await within(WITHIN, lambda: policy_on(first))
                for replica in (first, second):
                    pc, sdp = await offer_sdp()
                    pcs.append(pc)
                    location = await make_call(http, replica, key, sdp)
                    view = (await http.get(replica.base_url + location, headers=bearer)).json()
                    assert call_seconds(view) == 45
                    await http.delete(replica.base_url + location, headers=bearer)

                # Every live call, from either admin listener; hang one up from there.
                pc, sdp = await offer_sdp()
                pcs.append(pc)
                location = await make_call(http, second, key, sdp)
                call_id = location.rsplit("/", 1)[1]
                calls = (await http.get(admin_one + "/admin/v1/calls", headers=ADMIN)).json()
                assert [(c["id"], c["tenant"]) for c in calls["calls"]] == [(call_id, "initech")]
                hung = await http.delete(admin_one + f"/admin/v1/calls/{call_id}", headers=ADMIN)
                assert hung.json()["ended_reason"] == "gateway_hangup"
                view = (await http.get(second.base_url + location, headers=bearer)).json()
                assert view["status"] == "ended"

                # Revoked through the second: refused by both within 1 s.
                revoked = await http.delete(
                    admin_two + f"/admin/v1/tenants/initech/keys/{key_id}", headers=ADMIN
                )
                assert revoked.status_code == 200, revoked.text

                async def refused_by_both() -> bool:
                    answers = [
                        await http.get(r.base_url + "/usage", headers=bearer)
                        for r in (first, second)
                    ]
                    return all(a.status_code == 401 for a in answers)

                await within(WITHIN, refused_by_both)

                # Disabling a tenant hangs up its live call, and its keys stop.
                fresh = await http.post(admin_two + "/admin/v1/tenants/initech/keys", headers=ADMIN)
                key = fresh.json()["key"]
                bearer = {"Authorization": f"Bearer {key}"}
                await within(WITHIN, lambda: accepted_by(first))
                pc, sdp = await offer_sdp()
                pcs.append(pc)
                location = await make_call(http, first, key, sdp)
                disabled = await http.delete(admin_two + "/admin/v1/tenants/initech", headers=ADMIN)
                assert disabled.status_code == 200, disabled.text
                assert disabled.json()["disabled"] is True
                assert disabled.json()["calls_ended"] == 1
                disabled_call = location.rsplit("/", 1)[1]
                calls = (await http.get(admin_one + "/admin/v1/calls", headers=ADMIN)).json()
                assert calls["calls"] == []
                await within(WITHIN, refused_by_both)
                usage = await http.get(
                    admin_one + "/admin/v1/usage?tenant=initech&format=csv", headers=ADMIN
                )
                assert usage.status_code == 200
                lines = usage.text.splitlines()
                assert lines[0] == "tenant,day,calls,audio_seconds,tokens_in,tokens_out"
                assert lines[1].split(",")[2] == "5"  # five calls ended today
        finally:
            for pc in pcs:
                await pc.close()
    assert key not in first.output() and key not in second.output()
    assert '"event": "admin.key.revoked"' in second.output()
    ended = [
        line
        for line in (first.output() + second.output()).splitlines()
        if disabled_call in line and '"event": "call.ended"' in line
    ]
    assert len(ended) == 1 and '"reason": "gateway_hangup"' in ended[0]
