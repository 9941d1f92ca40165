"""Browser fixtures: Debian's Chromium driven by Playwright's async API, with a fake microphone.

The browser is module-scoped (one launch per test file), so the fixtures and the tests that use
them run on pytest-asyncio's module loop: mark such tests `asyncio(loop_scope="module")`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.playwright.chromium import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

_SNAPSHOT_JS = """() => {
  const text = (id) => document.getElementById(id)?.textContent ?? null;
  const rg = window.realtimeGateway;
  return {
    status: document.querySelector('[role="status"]')?.textContent ?? null,
    dataState: document.querySelector('[role="status"]')?.dataset.state ?? null,
    detail: text("state-detail"),
    error: document.getElementById("error")?.hidden ? null : text("error"),
    firstAudio: text("first-audio-ms"),
    transcript: text("transcript"),
    debug: rg ? {state: rg.state, errorCode: rg.errorCode, firstAudioMs: rg.firstAudioMs,
                 peakOutputLevel: rg.peakOutputLevel, peakInputLevel: rg.peakInputLevel,
                 eventCount: rg.eventCount} : "window.realtimeGateway missing",
    events: [...document.querySelectorAll("#event-log li")].slice(-15).map((li) => li.textContent),
  };
}"""


@dataclass
class OperatorPage:
    """A page of the operator UI plus what it logged, for waits that explain themselves."""

    page: Page
    console: list[str] = field(default_factory=list)

    async def snapshot(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self.page.evaluate(_SNAPSHOT_JS)
        except Exception as error:  # the page may be gone or mid-navigation
            result = {"snapshot_failed": repr(error)}
        return result

    async def dump(self) -> str:
        snapshot = await self.snapshot()
        console = "\n  ".join(self.console[-30:]) or "(none)"
        return f"page state: {json.dumps(snapshot, indent=2)}\nconsole:\n  {console}"

    async def wait_for(self, js_predicate: str, what: str, timeout: float = 10.0) -> None:
        """Wait until the JS expression holds; on timeout fail with the page's state."""
        # Polled through page.evaluate (DevTools), not wait_for_function: the latter compiles
        # the predicate inside the page, which the UI's Content-Security-Policy forbids.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.page.evaluate(js_predicate):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{await self.dump()}")

    async def wait_for_state(self, state: str, timeout: float = 10.0) -> None:
        predicate = (
            "(() => { const s = document.querySelector('[role=\"status\"]');"
            f" return s && s.textContent.trim() === {json.dumps(state)}"
            f" && s.dataset.state === {json.dumps(state)}; }})()"
        )
        await self.wait_for(predicate, f"state {state!r}", timeout)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile per test: its own localStorage, nothing shared between tests."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest_asyncio.fixture(loop_scope="module")
async def operator(context: BrowserContext) -> OperatorPage:
    page = await context.new_page()
    wrapped = OperatorPage(page)
    page.on("console", lambda message: wrapped.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: wrapped.console.append(f"pageerror: {error}"))
    return wrapped
