"""No decision uses a replica's own clock. Two `serve` processes on one real redis-server, the
second under Debian's `faketime` running 20 minutes fast: a call token minted on either is
redeemed on the other, a call made through the fast one is hung up at its deadline (not at
once), and both replicas read the same ledger, with the call's times by Redis's clock."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub, call_stub

ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
BODY = {"model": "gpt-realtime", "voice": "verse"}
MAX_CALL_SECONDS = 4
SKEW = "+20m"
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


def fast_clock() -> dict[str, str]:
    """The environment that runs a process 20 minutes fast (its monotonic clock untouched)."""
    assert LIBFAKETIME, "Debian's faketime is not installed (scripts/setup installs it)"
    return {
        "LD_PRELOAD": LIBFAKETIME[0],
        "FAKETIME": SKEW,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


async def mint(http: httpx.AsyncClient, base_url: str) -> str:
    minted = await http.post(base_url + "/realtime_session", json=BODY, headers=ACME)
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["session"]["client_secret"]["value"]
    return token


def seconds_from_now(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - time.time()


async def test_replicas_20_minutes_apart_agree_on_tokens_deadlines_and_the_ledger(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "100/minute",
        "GATEWAY_MAX_CALL_SECONDS": str(MAX_CALL_SECONDS),
    }
    with contextlib.ExitStack() as stack:
        normal = stack.enter_context(gateway_process(tmp_path, env))
        fast = stack.enter_context(gateway_process(tmp_path, {**env, **fast_clock()}))
        async with httpx.AsyncClient(timeout=30) as http:
            # Tokens minted on one replica are redeemed on the other, both ways.
            callers = []
            for minter, redeemer in ((normal, fast), (fast, normal)):
                token = await mint(http, minter.base_url)
                caller = await call_stub(
                    redeemer.base_url + "/realtime_calls", token, tone_seconds=0.2
                )
                assert caller.answer_response is not None
                assert caller.answer_response.status_code == 201
                callers.append((caller, redeemer, token))
            try:
                # The call made through the fast replica: live until its deadline, then ended.
                caller, replica, token = callers[0]
                location = caller.answer_response.headers["location"]  # type: ignore[union-attr]
                by_token = {"Authorization": f"Bearer {token}"}
                view = (await http.get(replica.base_url + location, headers=by_token)).json()
                assert view["status"] == "live"
                assert abs(seconds_from_now(view["started_at"])) < 60  # Redis's clock
                async with asyncio.timeout(30):
                    while view["status"] == "live":
                        await asyncio.sleep(0.2)
                        view = (await http.get(normal.base_url + location, headers=by_token)).json()
                assert view["ended_reason"] == "max_duration"
                assert MAX_CALL_SECONDS - 0.5 <= view["usage"]["audio_seconds"] < 30
                assert abs(seconds_from_now(view["ended_at"])) < 60
                async with asyncio.timeout(30):  # the other call ends at its deadline too
                    while not all(c.ended for c in stub.state.calls):
                        await asyncio.sleep(0.2)
                usages = [
                    (await http.get(r.base_url + "/usage", headers=ACME)).json()
                    for r in (normal, fast)
                ]
            finally:
                for caller, _, _ in callers:
                    await caller.pc.close()
    assert usages[0]["today"] == usages[1]["today"]  # "today" by the same clock on both
    assert usages[0]["today"]["calls"] == 2
    assert usages[0]["today"]["day"] == datetime.now(UTC).date().isoformat()


@pytest.fixture(autouse=True)
def _not_across_midnight() -> None:
    """`today` is compared with the test's own date: in the last 90 s of a UTC day, start
    once the day has turned."""
    left = 86400 - time.time() % 86400
    if left < 90:
        time.sleep(left + 1)
