"""WebSocket sessions on two `serve` replicas sharing a real redis-server: the tenant's cap
holds under 20 concurrent upgrades across both, and a replica SIGKILLed mid-session gives its
sessions' slots back, each ended once in the ledger (`gateway_hangup`) by the other."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.fixtures.gateway import METRICS_TOKEN, OTHER_TENANT_KEY, TENANT_KEY
from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.stub import RunningStub

ACME = {"Authorization": f"Bearer {TENANT_KEY}"}
CAP = 5
WAIT = 30.0


def replica_env(stub: RunningStub, redis_url: str) -> dict[str, str]:
    return {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY},globex:{OTHER_TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_MAX_CONCURRENT_CALLS": str(CAP),
        "GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
        # A Redis reply slower than its 0.5 s timeout (a loaded machine) refuses (503): the
        # default, `local`, would admit against each replica's own store, a cap per replica.
        "GATEWAY_LIMITER_FAILURE_MODE": "deny",
    }


def url_of(replica: GatewayProcess) -> str:
    return f"ws://127.0.0.1:{replica.port}/v1/realtime?model=gpt-realtime"


async def open_session(replica: GatewayProcess) -> Any:
    """An open session (past `session.created`), or the status its upgrade was refused with."""
    try:
        socket = await websockets.connect(url_of(replica), additional_headers=ACME)
    except websockets.InvalidStatus as refused:
        body = json.loads(refused.response.body or b"{}")
        return (refused.response.status_code, body["error"]["code"])
    async with asyncio.timeout(WAIT):
        while json.loads(await socket.recv())["type"] != "session.created":
            pass
    return socket


async def open_anyway(replica: GatewayProcess) -> Any:
    """An open session, asked again while Redis is too slow to answer (503)."""
    for _ in range(10):
        outcome = await open_session(replica)
        if not isinstance(outcome, tuple) or outcome[0] != 503:
            return outcome
        await asyncio.sleep(0.2)
    return outcome


async def today(http: httpx.AsyncClient, replica: GatewayProcess) -> dict[str, Any]:
    answer = await http.get(replica.base_url + "/usage", headers=ACME)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def ended_total(http: httpx.AsyncClient, replica: GatewayProcess, reason: str) -> float:
    answer = await http.get(
        replica.base_url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    start = f'gateway_calls_ended_total{{reason="{reason}"}}'
    lines = answer.text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(start))


async def test_cap_across_replicas_and_a_killed_replicas_sessions_ended_once(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    env = replica_env(stub, redis_url)
    with contextlib.ExitStack() as stack:
        first, second = (stack.enter_context(gateway_process(tmp_path, env)) for _ in range(2))
        outcomes = await asyncio.gather(*(open_session((first, second)[i % 2]) for i in range(20)))
        sockets = [o for o in outcomes if not isinstance(o, tuple)]
        refusals = [o for o in outcomes if isinstance(o, tuple)]
        assert len(sockets) <= CAP, "never more live sessions than the cap, across replicas"
        assert set(refusals) <= {(429, "too_many_calls"), (503, "limiter_unavailable")}
        if (503, "limiter_unavailable") not in refusals:  # Redis kept up: the cap is reached
            assert len(sockets) == CAP
        for socket in sockets:
            await socket.close()
        async with httpx.AsyncClient(timeout=10) as http:
            async with asyncio.timeout(WAIT):
                while (await today(http, second))["live_calls"] > 0:
                    await asyncio.sleep(0.05)

            # Two sessions on each replica; the first replica dies with its two.
            on_first = [await open_anyway(first) for _ in range(2)]
            on_second = [await open_anyway(second) for _ in range(2)]
            assert not any(isinstance(s, tuple) for s in on_first + on_second)
            assert (await today(http, second))["live_calls"] == 4
            first.kill()
            for socket in on_first:
                async with asyncio.timeout(WAIT):
                    with contextlib.suppress(websockets.ConnectionClosed):
                        while True:
                            await socket.recv()
            # The second replica takes the dead one's sessions over: slots back, ended once.
            async with asyncio.timeout(WAIT):
                while (await today(http, second))["live_calls"] > 2:
                    await asyncio.sleep(0.1)
            assert await ended_total(http, second, "gateway_hangup") == 2
            for socket in on_second:  # still relayed, unharmed
                await socket.send(json.dumps({"type": "response.create"}))
                async with asyncio.timeout(WAIT):
                    while json.loads(await socket.recv())["type"] != "response.done":
                        pass
                await socket.close()
            async with asyncio.timeout(WAIT):
                while (await today(http, second))["live_calls"] > 0:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # a second count of a dead replica's session lands now
            ledger = (await today(http, second))["today"]
            assert ledger["calls"] == len(sockets) + 4
            assert ledger["by_transport"]["websocket"]["calls"] == len(sockets) + 4
            assert await ended_total(http, second, "gateway_hangup") == 2


async def test_a_stopping_gateway_closes_its_sessions_1012_ended_once(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    env = replica_env(stub, redis_url)
    with gateway_process(tmp_path, env) as gateway:
        socket = await open_anyway(gateway)
        assert not isinstance(socket, tuple)
        async with httpx.AsyncClient(timeout=10) as http:
            listed = await http.get(gateway.base_url + "/realtime_calls", headers=ACME)
            [call] = listed.json()["calls"]
        gateway.stop()  # SIGTERM: uvicorn's graceful stop
        code = None
        async with asyncio.timeout(WAIT):
            try:
                while True:
                    await socket.recv()
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
        assert code == 1012
        gateway.start()
        async with httpx.AsyncClient(timeout=10) as http:
            ended = await http.get(gateway.base_url + f"/realtime_calls/{call['id']}", headers=ACME)
            assert ended.json()["status"] == "ended"
            assert ended.json()["ended_reason"] == "gateway_hangup"
            ledger = (await today(http, gateway))["today"]
            assert ledger["calls"] == 1 and ledger["by_transport"]["websocket"]["calls"] == 1


async def test_two_workers_each_sessions_deadline_ends_it_with_max_duration(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    """`serve --workers 2`: the workers elect one reaper; a session relayed by the other worker
    is ended in the store and its relay closes it (it reads its record once a second). Which
    worker takes each session is the kernel's choice: the test holds for any split."""
    env = {**replica_env(stub, redis_url), "GATEWAY_WORKERS": "2", "GATEWAY_MAX_CALL_SECONDS": "3"}
    with gateway_process(tmp_path, env) as gateway:
        sockets = [await open_anyway(gateway) for _ in range(4)]
        assert not any(isinstance(s, tuple) for s in sockets)
        for socket in sockets:
            events: list[dict[str, Any]] = []
            async with asyncio.timeout(WAIT):
                with contextlib.suppress(websockets.ConnectionClosed):
                    while True:
                        events.append(json.loads(await socket.recv()))
            assert socket.close_code == 1000
            assert [e["error"]["code"] for e in events if e["type"] == "error"] == ["max_duration"]
        async with httpx.AsyncClient(timeout=10) as http:
            async with asyncio.timeout(WAIT):
                while (await today(http, gateway))["today"]["calls"] < 4:
                    await asyncio.sleep(0.05)
            body = await today(http, gateway)
        assert body["live_calls"] == 0 and body["today"]["calls"] == 4
