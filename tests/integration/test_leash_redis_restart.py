"""A Redis restart mid-call (Redis with its append-only file, as production runs it): the live
call, its deadline and the usage already in the ledger survive, and the reaper still hangs the
call up at its deadline once Redis is back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.fixtures.gateway import GatewayFactory, wired_to
from tests.fixtures.servers import free_port, wait_for_port
from tests.fixtures.stub import Caller, RunningStub, call_stub

WAIT = 30.0


class DurableRedis:
    """redis-server with `appendonly yes`, restartable on its port and directory."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port)
        client = Redis.from_url(self.url)
        try:
            for _ in range(100):  # answering commands, not only accepting connections
                try:
                    client.ping()
                    return
                except RedisError:  # still loading the append-only file
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[DurableRedis]:
    server = DurableRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_redis_restart_mid_call_loses_no_call_and_no_usage(
    gateway_factory: GatewayFactory, stub: RunningStub, durable_redis: DurableRedis
) -> None:
    gateway = gateway_factory(
        **wired_to(
            stub,
            call_mode="brokered",
            redis_url=durable_redis.url,
            rate_limit="100/minute",
            max_call_seconds=6,
        )
    )
    body = {"model": "gpt-realtime", "voice": "verse"}
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:

        async def start() -> tuple[Caller, str, str]:
            minted = await http.post("/realtime_session", json=body, headers=gateway.auth())
            token: str = minted.json()["session"]["client_secret"]["value"]
            caller = await call_stub(gateway.url("/realtime_calls"), token, tone_seconds=0.2)
            assert caller.answer_response is not None
            return caller, caller.answer_response.headers["location"], token

        first, first_location, _ = await start()
        ended = await http.delete(first_location, headers=gateway.auth())
        assert ended.json()["ended_reason"] == "caller_hangup"
        before = (await http.get("/usage", headers=gateway.auth())).json()["today"]
        assert before["calls"] == 1

        caller, location, token = await start()
        try:
            durable_redis.stop()
            durable_redis.start()
            after = (await http.get("/usage", headers=gateway.auth())).json()["today"]
            assert after == before  # the ledger survived
            live = await http.get(location, headers={"Authorization": f"Bearer {token}"})
            assert live.json()["status"] == "live"  # the call survived
            async with asyncio.timeout(WAIT):
                while (await http.get(location, headers=gateway.auth())).json()["status"] == "live":
                    await asyncio.sleep(0.2)
            state = (await http.get(location, headers=gateway.auth())).json()
            final = (await http.get("/usage", headers=gateway.auth())).json()["today"]
        finally:
            await caller.pc.close()
            await first.pc.close()
    assert state["ended_reason"] == "max_duration"
    assert stub.state.calls[-1].ended
    assert final["calls"] == 2


async def test_with_redis_down_the_creating_replica_still_hangs_up_at_the_deadline(
    gateway_factory: GatewayFactory, stub: RunningStub, durable_redis: DurableRedis
) -> None:
    gateway = gateway_factory(
        **wired_to(
            stub,
            call_mode="brokered",
            redis_url=durable_redis.url,
            rate_limit="100/minute",
            max_call_seconds=4,
        )
    )
    body = {"model": "gpt-realtime", "voice": "verse"}
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        minted = await http.post("/realtime_session", json=body, headers=gateway.auth())
        token = minted.json()["session"]["client_secret"]["value"]
        caller = await call_stub(gateway.url("/realtime_calls"), token, tone_seconds=0.2)
        try:
            assert caller.answer_response is not None
            location = caller.answer_response.headers["location"]
            [stub_call] = stub.state.calls
            async with asyncio.timeout(WAIT):  # this replica watches its call
                while stub_call.sidebands_attached < 1:
                    await asyncio.sleep(0.05)
            durable_redis.stop()
            async with asyncio.timeout(WAIT):  # the in-process deadline, Redis still down
                while not stub_call.ended:
                    await asyncio.sleep(0.1)
            assert durable_redis.process is not None and durable_redis.process.poll() is not None
            durable_redis.start()
            async with asyncio.timeout(WAIT):  # counted once Redis answers again
                while (await http.get(location, headers=gateway.auth())).json()["status"] == "live":
                    await asyncio.sleep(0.2)
            state = (await http.get(location, headers=gateway.auth())).json()
            usage = (await http.get("/usage", headers=gateway.auth())).json()["today"]
        finally:
            await caller.pc.close()
    assert state["ended_reason"] == "max_duration"
    assert stub_call.end_reason == "hangup"  # hung up by the gateway, not timed out at the stub
    assert usage["calls"] == 1
