"""Brokered against direct mode, in one run: two gateway processes alike but for
`GATEWAY_CALL_MODE`, in front of the same stub.

- Mint throughput at saturation (closed loop): a brokered mint is a call token kept in process
  (no provider call), a direct one waits on the provider. Target: brokered >= 2x direct.
- Click to first audio in Chromium through the operator UI, alternating runs: brokered adds the
  gateway's hop on the SDP offer (redeem, then the provider's call creation with the key).
  Target: brokered median <= 1.15x direct.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

from bench.first_audio import (
    FIRST_AUDIO_TIMEOUT,
    PHASES,
    UI_SNAPSHOT,
    Path_,
    one_call,
    wait_until,
)
from bench.loadgen import run_loadgen
from bench.procs import (
    MODEL,
    VOICE,
    Service,
    Stack,
    free_port,
    gateway_body,
    gateway_service,
    tenant_keys,
)
from bench.report import Report, Target
from tests.playwright.chromium import CHROMIUM, CHROMIUM_ARGS

MINT_RATIO_TARGET = Target(">=", 2.0)
FIRST_AUDIO_RATIO_TARGET = Target("<=", 1.15)
MODES = ("direct", "brokered")


@dataclass(frozen=True)
class BrokeredPlan:
    rounds: int = 3
    warmup: float = 0.5
    block: float = 2.5
    connections: int = 16
    audio_runs: int = 10
    audio_warmups: int = 1


def brokered_gateway(stack: Stack) -> Service:
    service = gateway_service(free_port(), stack.stub.port)
    service.name = "gateway-brokered"
    service.env["GATEWAY_CALL_MODE"] = "brokered"
    return service


def mint_blocks(stack: Stack, brokered: Service, plan: BrokeredPlan) -> dict[str, float]:
    ok = dict.fromkeys(MODES, 0)
    seconds = dict.fromkeys(MODES, 0.0)
    errors = 0
    for index in range(plan.rounds):
        for mode in MODES if index % 2 == 0 else MODES[::-1]:
            stack.restart_stub()  # each block starts on an empty secret store
            run = run_loadgen(
                port=(stack.gateway if mode == "direct" else brokered).port,
                path="/realtime_session",
                tokens=tenant_keys(),
                body=gateway_body(),
                connections=plan.connections,
                rate=0.0,
                warmup=plan.warmup,
                duration=plan.block,
                rss_pid=0,
                samples=False,
            )
            ok[mode] += run["ok"]
            seconds[mode] += run["seconds"]
            errors += run["completed"] - run["ok"] + run["failures"]
    rates = {mode: ok[mode] / seconds[mode] if seconds[mode] else 0.0 for mode in MODES}
    return {**rates, "errors": float(errors)}


async def first_audio(stack: Stack, brokered: Service, plan: BrokeredPlan) -> dict[str, Path_]:
    from playwright.async_api import async_playwright

    urls = {"direct": stack.gateway_url, "brokered": f"http://127.0.0.1:{brokered.port}"}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            paths: dict[str, Path_] = {}
            for mode in MODES:
                page = await (await browser.new_context()).new_page()
                page.set_default_timeout(10_000)
                await page.goto(urls[mode] + "/", wait_until="load")
                await page.get_by_label("Gateway key").fill(tenant_keys()[0])
                await page.get_by_label("Model").fill(MODEL)
                await page.get_by_label("Voice").fill(VOICE)
                await page.get_by_label("Endpoint").fill("")

                async def hang_up(page: object = page) -> None:
                    button = page.get_by_role("button", name="Hang up")  # type: ignore[attr-defined]
                    if await button.count():
                        await button.click(timeout=5000)
                    await wait_until(
                        page, "['idle', 'error'].includes(window.realtimeGateway.state)", 5
                    )

                paths[mode] = Path_(
                    mode,
                    page,
                    "Enable microphone",
                    "window.realtimeGateway.firstAudioMs !== null"
                    " || window.realtimeGateway.state === 'error'",
                    "window.realtimeGateway.firstAudioMs",
                    UI_SNAPSHOT,
                    hang_up,
                )
            for index in range(plan.audio_warmups + plan.audio_runs):
                for mode in MODES if index % 2 == 0 else MODES[::-1]:
                    value = await one_call(paths[mode], index >= plan.audio_warmups)
                    if value is not None and index >= plan.audio_warmups:
                        paths[mode].samples.append(value)
            return paths
        finally:
            await browser.close()


def run_brokered(stack: Stack, report: Report, plan: BrokeredPlan) -> None:
    brokered = brokered_gateway(stack)
    brokered.start(stack.workdir)
    try:
        rates = mint_blocks(stack, brokered, plan)
        note = f"closed loop, {plan.connections} connections, {plan.rounds} block(s) per mode"
        report.add("mint_direct_mode_per_s", rates["direct"], note=note)
        report.add("mint_brokered_mode_per_s", rates["brokered"], note="call token, no provider")
        report.add(
            "mint_brokered_ratio",
            rates["brokered"] / rates["direct"] if rates["direct"] else float("nan"),
            MINT_RATIO_TARGET,
            note="brokered / direct mints per second",
        )
        report.add("mint_brokered_errors", rates["errors"], Target("==", 0.0))

        stack.restart_stub()
        limit = 60.0 + (plan.audio_runs + plan.audio_warmups) * 2 * (FIRST_AUDIO_TIMEOUT + 5.0)
        paths = asyncio.run(asyncio.wait_for(first_audio(stack, brokered, plan), limit))
        for path in paths.values():
            for failure in path.failures[:3]:
                print(f"# first audio, {path.name}: {failure}", flush=True)
        if not all(path.samples for path in paths.values()):
            counts = ", ".join(f"{mode} {len(paths[mode].samples)}" for mode in MODES)
            report.skip("first audio by mode", f"samples: {counts}")
            return
        medians = {mode: statistics.median(paths[mode].samples) for mode in MODES}
        for mode in MODES:
            samples = paths[mode].samples
            report.add(
                f"first_audio_{mode}_mode_median_ms",
                medians[mode],
                note=f"n={len(samples)}, min {min(samples):.0f}, max {max(samples):.0f}",
            )
        for phase in PHASES:
            if all(paths[mode].phases.get(phase) for mode in MODES):
                by_mode = {m: statistics.median(paths[m].phases[phase]) for m in MODES}
                report.add(
                    f"first_audio_click_to_{phase}_ms_brokered_minus_direct",
                    by_mode["brokered"] - by_mode["direct"],
                    note=f"medians: brokered {by_mode['brokered']:.0f}, "
                    f"direct {by_mode['direct']:.0f}",
                )
        report.add(
            "first_audio_brokered_ratio",
            medians["brokered"] / medians["direct"],
            FIRST_AUDIO_RATIO_TARGET,
            note="brokered / direct, operator UI, same run",
        )
    finally:
        brokered.stop()
