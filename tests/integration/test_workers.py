"""`serve --workers N` as real processes: N workers on one port sharing one Redis, a limit that
stays exact across them, and a SIGTERM that lets in-flight requests finish while refusing new
connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from realtime_gateway.gateway.workers import CRASH_LOOP_SECONDS, unsupported_platform
from tests.fixtures.gated_provider import gated_provider
from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process

BODY = {"model": "gpt-realtime", "voice": "verse"}
WAIT = 20.0


def workers_env(provider: Any, redis_url: str, workers: int, rate: str) -> dict[str, str]:
    return {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": provider.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": provider.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": provider.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_WORKERS": str(workers),
        "GATEWAY_RATE_LIMIT": rate,
    }


def worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children]


def connection_refused(port: int) -> bool:
    """No new connection gets in: refused, or reset by a listening socket closing while the
    connection waited in its backlog (never accepted, so never served)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} did not happen within {WAIT} s")
        await asyncio.sleep(0.02)


async def post_session(http: httpx.AsyncClient, base_url: str) -> int:
    response = await http.post(
        base_url + "/realtime_session",
        json=BODY,
        headers={"Authorization": f"Bearer {TENANT_KEY}"},
    )
    return response.status_code


async def test_sigterm_finishes_in_flight_requests_and_refuses_new_ones(
    redis_url: str, tmp_path: Path
) -> None:
    with gated_provider() as provider:
        env = workers_env(provider, redis_url, workers=2, rate="100/minute")
        with gateway_process(tmp_path, env) as gateway:
            assert len(worker_pids(gateway.pid)) == 2
            async with httpx.AsyncClient(timeout=WAIT) as http:
                in_flight = [
                    asyncio.create_task(post_session(http, gateway.base_url)) for _ in range(6)
                ]
                await until(lambda: provider.waiting == 6, "six requests reaching the provider")
                assert gateway.process is not None
                gateway.process.send_signal(signal.SIGTERM)
                await until(lambda: connection_refused(gateway.port), "new connections refused")
                # Refused while all six are still held at the provider, none answered yet.
                assert provider.waiting == 6
                assert not any(task.done() for task in in_flight)
                provider.gate.set()
                codes = await asyncio.wait_for(asyncio.gather(*in_flight), WAIT)
            assert codes == [200] * 6
            assert gateway.process.wait(WAIT) == 0
    assert len(provider.answers.secrets_issued) == 6


async def test_limit_is_exact_across_workers(redis_url: str, tmp_path: Path) -> None:
    with gated_provider() as provider:
        provider.gate.set()
        env = workers_env(provider, redis_url, workers=2, rate="3/minute")
        with gateway_process(tmp_path, env) as gateway:
            assert len(worker_pids(gateway.pid)) == 2
            limits = httpx.Limits(max_connections=24, max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=WAIT, limits=limits) as http:
                codes = await asyncio.gather(
                    *(post_session(http, gateway.base_url) for _ in range(24))
                )
    assert sorted(codes) == [200] * 3 + [429] * 21
    assert len(provider.answers.secrets_issued) == 3


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"GATEWAY_WORKERS": "2"}, "2 workers need shared state"),
        (
            {
                "GATEWAY_REDIS_URL": "redis://127.0.0.1:1/0",
                "GATEWAY_REDIS_CLUSTER_NODES": "127.0.0.1:7000",
            },
            "configure one Redis topology",
        ),
        ({"GATEWAY_REDIS_SENTINELS": "127.0.0.1:26379"}, "without GATEWAY_REDIS_SENTINEL_MASTER"),
        ({"GATEWAY_REDIS_SENTINEL_MASTER": "main"}, "without GATEWAY_REDIS_SENTINELS"),
        ({"GATEWAY_REDIS_CLUSTER_NODES": "127.0.0.1"}, "is not host:port"),
        ({"GATEWAY_REDIS_URL": "http://127.0.0.1:6379"}, "is not redis://"),
    ],
)
def test_serve_refuses_workers_without_redis_and_mixed_topologies(
    env: dict[str, str], reason: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_gateway", "serve", "--port", "0"],
        env={
            "PATH": "/usr/bin:/bin",
            "OPENAI_API_KEY": "sk-x",
            "GATEWAY_API_KEYS": "acme:k1-secret-value",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_workers_flag_overrides_the_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_gateway", "serve", "--port", "0", "--workers", "3"],
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-x", "GATEWAY_API_KEYS": "acme:k1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "3 workers need shared state" in result.stderr


async def test_a_worker_that_dies_is_replaced(redis_url: str, tmp_path: Path) -> None:
    with gated_provider() as provider:
        provider.gate.set()
        env = workers_env(provider, redis_url, workers=2, rate="100/minute")
        with gateway_process(tmp_path, env) as gateway:
            first = worker_pids(gateway.pid)
            # A worker that dies right after its start is a crash loop, not one to replace.
            await asyncio.sleep(CRASH_LOOP_SECONDS)
            os.kill(first[0], signal.SIGKILL)
            await until(
                lambda: (
                    len(worker_pids(gateway.pid)) == 2 and first[0] not in worker_pids(gateway.pid)
                ),
                "a replacement worker",
            )
            assert first[1] in worker_pids(gateway.pid)
            async with httpx.AsyncClient(timeout=WAIT) as http:
                codes = [await post_session(http, gateway.base_url) for _ in range(4)]
            assert codes == [200] * 4


async def test_a_second_gateway_on_a_taken_port_is_refused(redis_url: str, tmp_path: Path) -> None:
    with gated_provider() as provider:
        env = workers_env(provider, redis_url, workers=2, rate="100/minute")
        with gateway_process(tmp_path, env) as gateway:
            second = subprocess.run(
                [sys.executable, "-m", "realtime_gateway", "serve"],
                env=gateway.env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert second.returncode == 1
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{gateway.port}" in lines[0]
            assert len(worker_pids(gateway.pid)) == 2


async def test_workers_stop_when_the_supervisor_is_killed(redis_url: str, tmp_path: Path) -> None:
    with gated_provider() as provider:
        provider.gate.set()
        env = workers_env(provider, redis_url, workers=2, rate="100/minute")
        with gateway_process(tmp_path, env) as gateway:
            workers = worker_pids(gateway.pid)
            gateway.kill()  # SIGKILL: the supervisor cannot pass anything on
            await until(lambda: not any(alive(pid) for pid in workers), "workers exiting")
            assert connection_refused(gateway.port)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_stuck_worker_is_killed_after_the_graceful_timeout(
    redis_url: str, tmp_path: Path
) -> None:
    with gated_provider() as provider:
        provider.gate.set()
        env = workers_env(provider, redis_url, workers=2, rate="100/minute")
        env["GATEWAY_GRACEFUL_TIMEOUT"] = "1"
        with gateway_process(tmp_path, env) as gateway:
            stuck, other = worker_pids(gateway.pid)
            os.kill(stuck, signal.SIGSTOP)  # handles no signal: as good as a wedged loop
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGTERM)
            try:
                code = gateway.process.wait(WAIT)  # 1 s graceful + the kill grace, then killed
            except subprocess.TimeoutExpired:
                os.kill(stuck, signal.SIGKILL)
                raise AssertionError("the supervisor waited on a stuck worker") from None
            assert code == 1
            assert not alive(stuck) and not alive(other)
            assert "did not stop within the graceful timeout" in gateway.output()


def test_several_workers_are_refused_off_linux() -> None:
    assert unsupported_platform("linux") is None
    refusal = unsupported_platform("darwin")
    assert refusal is not None and refusal.startswith("--workers needs Linux")


def reaper_lock_holders(workers: list[int]) -> list[int]:
    """The workers holding the replica's reaper lock file open (the elected one keeps it)."""
    holders = []
    for pid in workers:
        with contextlib.suppress(FileNotFoundError):
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            if any(link.endswith("/reaper.lock") for link in links):
                holders.append(pid)
    return holders


async def test_one_reaper_per_replica_and_another_worker_takes_over(
    redis_url: str, tmp_path: Path
) -> None:
    with gated_provider() as provider:
        provider.gate.set()
        env = workers_env(provider, redis_url, workers=2, rate="100/minute")
        with gateway_process(tmp_path, env) as gateway:
            await asyncio.sleep(CRASH_LOOP_SECONDS)  # past a crash loop's window
            await until(lambda: len(reaper_lock_holders(worker_pids(gateway.pid))) == 1, "a reaper")
            [elected] = reaper_lock_holders(worker_pids(gateway.pid))
            os.kill(elected, signal.SIGKILL)
            await until(
                lambda: (
                    len(holders := reaper_lock_holders(worker_pids(gateway.pid))) == 1
                    and holders[0] != elected
                ),
                "another worker's reaper",
            )
