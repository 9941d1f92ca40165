"""The replica wait behind `GATEWAY_REDIS_WAIT_REPLICAS`, on a real master and its replica: once
it returns, the replica holds every write acknowledged before it, whichever connection made it;
with the replica stopped it gives up after its timeout, says so in a warning, and returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.procs import Service, free_port, redis_service
from realtime_gateway.gateway.redisconn import make_client, tenant_key
from realtime_gateway.gateway.replica_wait import ReplicaWait


@contextlib.contextmanager
def master_and_replica(workdir: Path) -> Iterator[tuple[int, Service]]:
    master_port, replica_port = free_port(), free_port()
    master = redis_service(master_port)
    master.command += ["--repl-diskless-sync-delay", "0"]  # sync the replica at once
    replica = redis_service(replica_port)
    replica.name = "redis-replica"
    replica.command += ["--replicaof", "127.0.0.1", str(master_port), "--dir", str(workdir)]
    master.start(workdir)
    try:
        replica.start(workdir)
        try:
            yield master_port, replica
        finally:
            replica.stop()
    finally:
        master.stop()


async def test_the_replica_holds_every_earlier_write_once_the_wait_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with master_and_replica(tmp_path) as (master_port, replica):
        url = f"redis://127.0.0.1:{master_port}/0"
        writer, waiter = make_client(url), make_client(url)
        wait = ReplicaWait(waiter, 1, 200)
        try:
            async with asyncio.timeout(20):
                while await wait("acme") < 1:  # the replica's first sync
                    pass
            # The replica falls behind; writes go through another client (as the leash's and
            # the call store's do): the wait still waits for them.
            os.kill(replica.pid, signal.SIGSTOP)
            try:
                for n in range(50):
                    await writer.set(tenant_key("acme", "call", str(n)), "live")
                waiting = asyncio.ensure_future(ReplicaWait(waiter, 1, 300)("acme"))
                await asyncio.sleep(0.1)
                assert not waiting.done()
            finally:
                os.kill(replica.pid, signal.SIGCONT)
            assert await waiting == 1
            with redis.Redis(port=replica.port, socket_timeout=5) as copy:
                held = copy.mget([tenant_key("acme", "call", str(n)) for n in range(50)])
            assert held == [b"live"] * 50

            os.kill(replica.pid, signal.SIGSTOP)
            try:
                with caplog.at_level(logging.WARNING, "realtime_gateway.gateway.replica_wait"):
                    assert await wait("acme") == 0
            finally:
                os.kill(replica.pid, signal.SIGCONT)
            assert "replicas did not acknowledge a call in time" in caplog.text
            assert await ReplicaWait(waiter, 2, 50)("acme") == 1  # asks for more than exist
        finally:
            await writer.aclose()
            await waiter.aclose()
