"""Two gateway processes sharing one real Redis enforce one limit between them."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.gateway import OTHER_TENANT_KEY, TENANT_KEY
from tests.fixtures.processes import gateway_process

BODY = {"model": "gpt-realtime", "voice": "verse"}


def replica_env(stub: Any, redis_url: str) -> dict[str, str]:
    return {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY},globex:{OTHER_TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
    }


async def test_exactly_three_of_twelve_pass_across_two_replicas(
    stub: Any, redis_url: str, tmp_path: Path
) -> None:
    env = replica_env(stub, redis_url)
    with contextlib.ExitStack() as stack:
        replicas = [stack.enter_context(gateway_process(tmp_path, env)) for _ in range(2)]
        async with httpx.AsyncClient(timeout=10) as http:

            async def create(index: int, key: str) -> int:
                replica = replicas[index % 2]
                response = await http.post(
                    replica.base_url + "/realtime_session",
                    json=BODY,
                    headers={"Authorization": f"Bearer {key}"},
                )
                return response.status_code

            codes = await asyncio.gather(*(create(i, TENANT_KEY) for i in range(12)))
            assert sorted(codes) == [200] * 3 + [429] * 9
            other = await asyncio.gather(*(create(i, OTHER_TENANT_KEY) for i in range(2)))
            assert other == [200, 200]
    assert stub.state.mint_count == 5
