"""Soak: N mints at a steady rate across two gateway processes sharing one Redis, against the
stub process. Counted exactly per tenant; memory flat between the first and the last quarter.

    RTG_SOAK_MINTS=10000 .venv/bin/pytest tests/integration/test_soak.py -s   # the full soak
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.procs import stop_process
from tests.fixtures.gateway import METRICS_TOKEN
from tests.fixtures.processes import GatewayProcess, gateway_env, gateway_process
from tests.fixtures.servers import free_port, wait_for_port

MINTS = int(os.environ.get("RTG_SOAK_MINTS", "2000"))  # a multiple of 5: one share per tenant
RATE = float(os.environ.get("RTG_SOAK_RATE", "250"))  # mints per second, both replicas together
CONCURRENCY = 16
BIG_TENANTS = ("north", "south", "east", "west")
SMALL_TENANT, SMALL_LIMIT = "tiny", 50
RSS_GROWTH_BOUND_KIB = 24 * 1024
STUB_KEY = "sk-soak-stub-key-4e1f0a9b7c2d"


@contextlib.contextmanager
def stub_process(logdir: Path) -> Iterator[str]:
    port = free_port()
    with (logdir / "stub.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "realtime_gateway", "stub", "--port", str(port)],
            env=gateway_env(OPENAI_API_KEY=STUB_KEY),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}/v1/realtime/client_secrets"
    finally:
        stop_process(process)


def key_of(tenant: str) -> str:
    return f"rtg_soak_{tenant}_key_0123456789abcdef"


async def soak(replicas: list[GatewayProcess], rss: dict[str, list[int]]) -> list[tuple[str, int]]:
    tenants = (*BIG_TENANTS, SMALL_TENANT)
    results: list[tuple[str, int]] = []
    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:

        async def one(index: int) -> None:
            tenant = tenants[index % len(tenants)]
            replica = replicas[index % len(replicas)]
            try:
                response = await http.post(
                    replica.base_url + "/realtime_session",
                    json={"model": "gpt-realtime", "voice": "verse"},
                    headers={"Authorization": f"Bearer {key_of(tenant)}"},
                )
                results.append((tenant, response.status_code))
            finally:
                semaphore.release()

        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        for index in range(MINTS):
            # A steady rate: request i leaves at started + i / RATE, never in a burst.
            await asyncio.sleep(max(0.0, started + index / RATE - time.monotonic()))
            await asyncio.wait_for(semaphore.acquire(), 30)
            tasks.append(asyncio.create_task(one(index)))
            if index + 1 == MINTS // 4:
                for replica in replicas:
                    rss[str(replica.port)].append(replica.rss_kib())
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        elapsed = time.monotonic() - started
    for replica in replicas:
        rss[str(replica.port)].append(replica.rss_kib())
    print(f"soak: {MINTS} mints in {elapsed:.1f} s ({MINTS / elapsed:.0f}/s, target {RATE:.0f}/s)")
    return results


def test_soak_two_replicas_shared_redis(tmp_path: Path, redis_url: str) -> None:
    rates = ",".join(f"{t}=1000000/hour" for t in BIG_TENANTS) + f",{SMALL_TENANT}="
    rates += f"{SMALL_LIMIT}/hour"
    with stub_process(tmp_path) as endpoint:
        settings = {
            "OPENAI_API_KEY": STUB_KEY,
            "GATEWAY_API_KEYS": ",".join(f"{t}:{key_of(t)}" for t in (*BIG_TENANTS, SMALL_TENANT)),
            "GATEWAY_PROVIDER_ENDPOINT": endpoint,
            "GATEWAY_ALLOWED_ENDPOINTS": endpoint,
            "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_RATE_LIMIT": "1/hour",
            "GATEWAY_TENANT_RATE_LIMITS": rates,
            "GATEWAY_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
            "GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
        }
        with (
            gateway_process(tmp_path, settings) as first,
            gateway_process(tmp_path, settings) as second,
        ):
            rss: dict[str, list[int]] = {str(first.port): [], str(second.port): []}
            results = asyncio.run(soak([first, second], rss))
            created = sessions_created(first) + sessions_created(second)

    tenants = (*BIG_TENANTS, SMALL_TENANT)
    per_tenant = {t: collections.Counter(s for name, s in results if name == t) for t in tenants}
    print(f"soak per tenant: { {t: dict(c) for t, c in sorted(per_tenant.items())} }")
    share = MINTS // 5
    assert len(results) == MINTS
    for tenant in BIG_TENANTS:
        assert per_tenant[tenant] == {200: share}
    assert per_tenant[SMALL_TENANT] == {200: SMALL_LIMIT, 429: share - SMALL_LIMIT}
    # Both replicas counted in /metrics exactly what the clients saw.
    assert created == collections.Counter(
        {**dict.fromkeys(BIG_TENANTS, share), SMALL_TENANT: SMALL_LIMIT}
    )
    for port, (after_first_quarter, at_end) in rss.items():
        growth = at_end - after_first_quarter
        print(
            f"soak RSS replica :{port}: {after_first_quarter} KiB after the first quarter, "
            f"{at_end} KiB at the end ({growth:+d} KiB)"
        )
        assert growth < RSS_GROWTH_BOUND_KIB


def sessions_created(gateway: GatewayProcess) -> collections.Counter[str]:
    text = httpx.get(
        gateway.base_url + "/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=10,
    ).text
    counts: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_sessions_total" and sample.labels["outcome"] == "created":
                counts[sample.labels["tenant"]] += int(sample.value)
    return counts
