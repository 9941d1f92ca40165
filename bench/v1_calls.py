"""What the gateway's `/v1/realtime/calls` adds to a call's creation, beside the stub's own
`/v1/realtime/calls` in the same run, alternating, one call at a time:

- `stub`: the offer posted to the stub with the provider key (what an app holding the key does);
- `v1 token`: the offer posted to the gateway with an `ek_rtg_` token from
  `/v1/realtime/client_secrets` (the browser SDK's way; the mint is not timed);
- `v1 tenant`: multipart `sdp` + `session` with the tenant key (OpenAI's unified interface).

Each call is hung up before the next. Printed: p50 and p99 of each, in ms, and what the gateway
adds (its percentile less the stub's). The stub's own creation (an aiortc answer) dominates.

`python -m bench --only v1 [--quick]`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx

from bench.leash import percentile
from bench.procs import MODEL, PROVIDER_KEY, Stack, tenant_key
from bench.report import Report, Target

ADDED_P50_TARGET = Target("<=", 5.0)
SESSION = {"type": "realtime", "model": MODEL, "audio": {"output": {"voice": "verse"}}}
WAYS = ("stub", "v1 token", "v1 tenant")


@dataclass(frozen=True)
class V1Plan:
    calls: int = 60  # per way


async def offer_sdp() -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def one_call(http: httpx.AsyncClient, stack: Stack, way: str, sdp: str) -> float:
    """Milliseconds from the offer sent to the answer read; the call is hung up after."""
    tenant = {"Authorization": f"Bearer {tenant_key(0)}"}
    form = {"sdp": (None, sdp, "application/sdp"), "session": (None, json.dumps(SESSION))}
    if way == "stub":
        url, headers = (
            stack.stub_url + "/v1/realtime/calls",
            {"Authorization": f"Bearer {PROVIDER_KEY}"},
        )
        request = http.build_request("POST", url, files=form, headers=headers)
    elif way == "v1 token":
        minted = await http.post(
            stack.gateway_url + "/v1/realtime/client_secrets",
            json={"session": SESSION},
            headers=tenant,
        )
        token = minted.json()["value"]
        request = http.build_request(
            "POST",
            stack.gateway_url + "/v1/realtime/calls",
            content=sdp,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
        )
    else:
        request = http.build_request(
            "POST", stack.gateway_url + "/v1/realtime/calls", files=form, headers=tenant
        )
    started = time.perf_counter()
    answer = await http.send(request)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 201:
        raise RuntimeError(f"{way}: {answer.status_code} {answer.text[:200]}")
    call_id = answer.headers["location"].rsplit("/", 1)[-1]
    if way == "stub":
        await http.post(
            f"{stack.stub_url}/v1/realtime/calls/{call_id}/hangup",
            headers={"Authorization": f"Bearer {PROVIDER_KEY}"},
        )
    else:
        await http.post(f"{stack.gateway_url}/v1/realtime/calls/{call_id}/hangup", headers=tenant)
    return elapsed


async def measure(stack: Stack, plan: V1Plan) -> dict[str, list[float]]:
    sdp = await offer_sdp()
    samples: dict[str, list[float]] = {way: [] for way in WAYS}
    async with httpx.AsyncClient(timeout=30) as http:
        for way in WAYS:  # warm every path once
            await one_call(http, stack, way, sdp)
        for _ in range(plan.calls):
            for way in WAYS:
                samples[way].append(await one_call(http, stack, way, sdp))
    return samples


def run_v1_calls(stack: Stack, report: Report, plan: V1Plan) -> None:
    samples = asyncio.run(measure(stack, plan))
    stub_p50, stub_p99 = percentile(samples["stub"], 0.5), percentile(samples["stub"], 0.99)
    report.add("v1_calls_stub_create_ms_p50", stub_p50)
    report.add("v1_calls_stub_create_ms_p99", stub_p99)
    for way in WAYS[1:]:
        name = way.replace(" ", "_")
        p50, p99 = percentile(samples[way], 0.5), percentile(samples[way], 0.99)
        report.add(f"v1_calls_{name}_create_ms_p50", p50)
        report.add(f"v1_calls_{name}_create_ms_p99", p99)
        report.add(f"v1_calls_{name}_added_ms_p50", p50 - stub_p50, ADDED_P50_TARGET)
        report.add(f"v1_calls_{name}_added_ms_p99", p99 - stub_p99)
