"""`python -m bench.client_http [--mints N]`: the machine client's HTTP library, httpx against
aiohttp, minting sessions at a real gateway (stub behind it) on 127.0.0.1.

Both post the same request over one keep-alive connection and decode the JSON answer; rounds
alternate. Figures per mint: client CPU (this process's own time; the servers run in their own
processes) and wall time, median of the rounds. `GatewayClient` (httpx, typed parsing) runs too.
Prints; never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from bench.procs import MODEL, VOICE, Stack, tenant_key
from realtime_gateway.client import GatewayClient

BODY = {"model": MODEL, "voice": VOICE}
Mint = Callable[[], Awaitable[object]]


async def measure(mint: Mint, mints: int) -> tuple[float, float]:
    """CPU and wall microseconds per mint, over `mints` sequential mints after a warm-up."""
    for _ in range(50):
        await mint()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(mints):
        await mint()
    return (
        (time.process_time() - cpu) / mints * 1e6,
        (time.perf_counter() - wall) / mints * 1e6,
    )


async def run(gateway_url: str, mints: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    url = gateway_url + "/realtime_session"
    headers = {"Authorization": f"Bearer {tenant_key(0)}"}
    results: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": [], "client": []}
    async with (
        httpx.AsyncClient(timeout=10) as plain_httpx,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as plain_aiohttp,
        GatewayClient(gateway_url, tenant_key(0)) as client,
    ):

        async def with_httpx() -> object:
            response = await plain_httpx.post(url, json=BODY, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        async def with_aiohttp() -> object:
            async with plain_aiohttp.post(url, json=BODY, headers=headers) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        async def with_client() -> object:
            return await client.create_session(MODEL, VOICE)

        for _ in range(rounds):
            results["httpx"].append(await measure(with_httpx, mints))
            results["aiohttp"].append(await measure(with_aiohttp, mints))
            results["client"].append(await measure(with_client, mints))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mints", type=int, default=1000, help="mints per library per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stack = Stack()
    stack.start()
    try:
        results = asyncio.run(run(stack.gateway_url, args.mints, args.rounds))
    finally:
        stack.stop()
    medians = {
        name: (
            statistics.median(cpu for cpu, _ in figures),
            statistics.median(wall for _, wall in figures),
        )
        for name, figures in results.items()
    }
    for name, (cpu, wall) in medians.items():
        print(f"client_{name}_cpu_us_per_mint={cpu:.0f} client_{name}_wall_us_per_mint={wall:.0f}")
    ratio = medians["httpx"][0] / medians["aiohttp"][0]
    print(f"client_cpu_ratio_httpx_over_aiohttp={ratio:.2f}")


if __name__ == "__main__":
    main()
