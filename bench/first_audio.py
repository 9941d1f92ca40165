"""Time to first audio in Chromium: the operator UI (through the gateway) against a bare page
that mints straight at the stub, same browser, alternating runs, medians.

The bare page runs the UI's own `Call` (web/call.js) with only the mint swapped for a direct
one, so the two differ by the gateway alone: same ICE handling, same first-audio measurement
(click to the first analyser peak >= 0.02, sampled every 20 ms), same stub with loopback ICE.
"""

from __future__ import annotations

import asyncio
import functools
import json
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.procs import HOST, MODEL, PROVIDER_KEY, VOICE, Stack, stub_ga_endpoint, tenant_keys
from bench.report import Report, Target
from realtime_gateway.gateway.app import WEB_DIR
from tests.playwright.chromium import CHROMIUM, CHROMIUM_ARGS

RATIO_TARGET = Target("<=", 1.1)
FIRST_AUDIO_TIMEOUT = 20.0
SETTLE_SECONDS = 0.3  # between calls, so one call's teardown does not overlap the next
BARE_PAGE = Path(__file__).with_name("bare_page.html")
BARE_FILES = frozenset({"bare_page.html", "bare_gateway.js"})

UI_SNAPSHOT = """() => ({state: window.realtimeGateway?.state,
  errorCode: window.realtimeGateway?.errorCode, firstAudioMs: window.realtimeGateway?.firstAudioMs,
  detail: document.getElementById("state-detail")?.textContent,
  error: document.getElementById("error")?.textContent?.trim(),
  visibility: document.visibilityState})"""
BARE_SNAPSHOT = """() => ({...window.bare, visibility: document.visibilityState})"""


class _BareHandler(SimpleHTTPRequestHandler):
    """Serves the bare page and its mint module from bench/, and the UI's modules at /web/
    straight from the package, so the bare page runs the UI's own call code."""

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/web/"):
            name = clean.removeprefix("/web/")
            if "/" not in name and (WEB_DIR / name).is_file():
                return str(WEB_DIR / name)
            return str(BARE_PAGE.parent / "missing")
        name = clean.lstrip("/")
        if name in BARE_FILES:
            return str(BARE_PAGE.parent / name)
        return str(BARE_PAGE.parent / "missing")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve_bare_page() -> tuple[ThreadingHTTPServer, str]:
    """A tiny static server for the bare page, on 127.0.0.1, in a daemon thread."""
    handler = functools.partial(_BareHandler, directory=str(BARE_PAGE.parent))
    server = ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}/{BARE_PAGE.name}"


@dataclass
class Path_:
    """One way of calling: how to start a call, where to read its result, how to end it."""

    name: str
    page: Any
    start_button: str
    ready_js: str
    result_js: str
    snapshot_js: str
    hang_up: Callable[[], Awaitable[None]]
    samples: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


# The UI's Call leaves User Timing marks "rtg:<phase>" with ms after the click in `detail`, to
# the millisecond (first audio itself is quantised by the 20 ms level sampling).
PHASES_JS = """() => Object.fromEntries(performance.getEntriesByType("mark")
  .filter((m) => m.name.startsWith("rtg:") && typeof m.detail === "number")
  .map((m) => [m.name.slice(4), m.detail]))"""
PHASES = ("minted", "offer", "answered", "connected")


async def wait_until(page: Any, js_predicate: str, timeout: float) -> None:
    """Poll through page.evaluate (DevTools): wait_for_function compiles the predicate inside
    the page, which the UI's Content-Security-Policy forbids. Polls every 10 ms."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(js_predicate):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout} s: {js_predicate}")
        await asyncio.sleep(0.01)


async def one_call(path: Path_, record: bool) -> float | None:
    page = path.page
    await page.bring_to_front()
    await page.evaluate("() => performance.clearMarks()")
    await page.get_by_role("button", name=path.start_button).click(timeout=5000)
    try:
        await wait_until(page, path.ready_js, FIRST_AUDIO_TIMEOUT)
        value = await page.evaluate(path.result_js)
        if record:
            marks: dict[str, float] = await page.evaluate(PHASES_JS)
            for phase in PHASES:
                if isinstance(marks.get(phase), int | float):
                    path.phases.setdefault(phase, []).append(float(marks[phase]))
    except Exception as error:  # a timeout or a dead page: record it with the page's state
        snapshot = await page.evaluate(path.snapshot_js)
        path.failures.append(f"{type(error).__name__}: {json.dumps(snapshot)}")
        value = None
    await path.hang_up()
    await asyncio.sleep(SETTLE_SECONDS)
    if not isinstance(value, int | float):
        if value is not None or not path.failures:
            snapshot = await page.evaluate(path.snapshot_js)
            path.failures.append(f"no first audio: {json.dumps(snapshot)}")
        return None
    return float(value)


async def measure(stack: Stack, runs: int, warmups: int) -> tuple[Path_, Path_]:
    from playwright.async_api import async_playwright

    server, bare_url = serve_bare_page()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
            )
            try:
                ui_context = await browser.new_context()
                bare_context = await browser.new_context()
                ui_page = await ui_context.new_page()
                bare_page = await bare_context.new_page()
                for page in (ui_page, bare_page):
                    page.set_default_timeout(10_000)

                await ui_page.goto(f"{stack.gateway_url}/", wait_until="load")
                await ui_page.get_by_label("Gateway key").fill(tenant_keys()[0])
                await ui_page.get_by_label("Model").fill(MODEL)
                await ui_page.get_by_label("Voice").fill(VOICE)
                await ui_page.get_by_label("Endpoint").fill("")

                await bare_page.goto(bare_url, wait_until="load")
                await bare_page.get_by_label("Provider key").fill(PROVIDER_KEY)
                await bare_page.get_by_label("Endpoint").fill(stub_ga_endpoint(stack.stub.port))

                async def ui_hang_up() -> None:
                    button = ui_page.get_by_role("button", name="Hang up")
                    if await button.count():
                        await button.click(timeout=5000)
                    await wait_until(
                        ui_page, "['idle', 'error'].includes(window.realtimeGateway.state)", 5
                    )

                async def bare_hang_up() -> None:
                    await bare_page.get_by_role("button", name="Hang up").click(timeout=5000)

                ui = Path_(
                    "ui",
                    ui_page,
                    "Enable microphone",
                    "window.realtimeGateway.firstAudioMs !== null"
                    " || window.realtimeGateway.state === 'error'",
                    "window.realtimeGateway.firstAudioMs",
                    UI_SNAPSHOT,
                    ui_hang_up,
                )
                bare = Path_(
                    "bare",
                    bare_page,
                    "Start",
                    "window.bare.firstAudioMs !== null || window.bare.state === 'error'",
                    "window.bare.firstAudioMs",
                    BARE_SNAPSHOT,
                    bare_hang_up,
                )
                for index in range(warmups + runs):
                    # Alternate which goes first, so drift in the machine's load hits both.
                    order = (ui, bare) if index % 2 == 0 else (bare, ui)
                    for path in order:
                        value = await one_call(path, index >= warmups)
                        if value is not None and index >= warmups:
                            path.samples.append(value)
                return ui, bare
            finally:
                await browser.close()
    finally:
        server.shutdown()
        server.server_close()


def run_first_audio(stack: Stack, report: Report, runs: int, warmups: int = 1) -> None:
    # Each call ends in a few seconds; bound the whole section all the same.
    limit = 60.0 + (runs + warmups) * 2 * (FIRST_AUDIO_TIMEOUT + 5.0)
    ui, bare = asyncio.run(asyncio.wait_for(measure(stack, runs, warmups), limit))
    for path in (ui, bare):
        for failure in path.failures[:3]:
            print(f"# first audio, {path.name}: {failure}", flush=True)
    if not ui.samples or not bare.samples:
        report.skip("first audio", f"ui {len(ui.samples)}, bare {len(bare.samples)} samples")
        return
    ui_median = statistics.median(ui.samples)
    bare_median = statistics.median(bare.samples)
    for path, median in ((ui, ui_median), (bare, bare_median)):
        spread = f"n={len(path.samples)}, min {min(path.samples):.0f}, max {max(path.samples):.0f}"
        if path.failures:
            spread += f", {len(path.failures)} failed"
        report.add(f"first_audio_{path.name}_median_ms", median, note=spread)
    report.add("first_audio_ratio", ui_median / bare_median, RATIO_TARGET, note="ui / bare")
    for phase in PHASES:
        if ui.phases.get(phase) and bare.phases.get(phase):
            ui_phase = statistics.median(ui.phases[phase])
            bare_phase = statistics.median(bare.phases[phase])
            report.add(
                f"first_audio_click_to_{phase}_ms_ui_minus_bare",
                ui_phase - bare_phase,
                note=f"medians: ui {ui_phase:.0f}, bare {bare_phase:.0f} (1 ms marks)",
            )
