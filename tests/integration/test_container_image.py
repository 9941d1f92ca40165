"""The container image as an operator runs it: `scripts/image` builds it (a Debian base made
with debootstrap, the core install from uv.lock), and the container mints through the stub
with its limiter on a real redis-server beside it.

It needs root and Debian's podman, runc and debootstrap (`scripts/setup test` installs them),
and takes about 70 s from nothing, 20 s with the base image built; `-m 'not container'` leaves
it out of a run."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.fixtures.servers import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ["podman", "--runtime", "runc"]
# The limits the sandbox lets a container set (podman's defaults are above them).
RUN_OPTIONS = ["--network", "host", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]

# The image is built in the test's setup: debootstrap and the install from uv.lock take a
# minute on a quiet machine, several on a loaded one.
pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def image() -> str:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    assert missing == [], f"apt-get install {' '.join(missing)}"
    started = time.monotonic()
    built = subprocess.run(
        [str(ROOT / "scripts" / "image")], capture_output=True, text=True, timeout=900
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    print(f"scripts/image took {time.monotonic() - started:.0f} s")
    return built.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def container(image: str, env: dict[str, str]) -> Iterator[str]:
    name = "rtg-test-" + secrets.token_hex(4)
    options = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
    started = subprocess.run(
        [*PODMAN, "run", "-d", "--name", name, *RUN_OPTIONS, *options, image],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield name
    finally:
        subprocess.run([*PODMAN, "rm", "-f", "-t", "5", name], capture_output=True, timeout=60)


def logs(name: str) -> str:
    done = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def wait_healthy(base_url: str, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"the container did not serve within {timeout} s:\n{logs(name)}")


def test_the_image_mints_through_the_stub_with_redis_beside_it(
    image: str, stub: Any, redis_server: RedisServer
) -> None:
    port = free_port()
    tenant_key = "tenant-" + secrets.token_hex(12)
    endpoint = f"{stub.base_url}/v1/realtime/client_secrets"
    env = {
        "GATEWAY_HOST": "127.0.0.1",  # the host's network: stay on its loopback
        "GATEWAY_PORT": str(port),
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_API_KEYS": f"acme:{tenant_key}",
        "GATEWAY_PROVIDER_ENDPOINT": endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": endpoint,
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_WORKERS": "1",
    }
    redis.Redis.from_url(redis_server.url).flushall()
    with container(image, env) as name:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(base_url, name)
        ready = httpx.get(base_url + "/readyz", timeout=5)
        minted = httpx.post(
            base_url + "/realtime_session",
            json={"model": "gpt-realtime", "voice": "verse"},
            headers={"Authorization": f"Bearer {tenant_key}"},
            timeout=10,
        )
        refused = httpx.post(
            base_url + "/realtime_session",
            json={"model": "gpt-realtime", "voice": "verse"},
            headers={"Authorization": "Bearer not-a-tenant-key"},
            timeout=10,
        )
        whoami = subprocess.run(
            [*PODMAN, "exec", name, "id", "-un"], capture_output=True, text=True, timeout=30
        )
        output = logs(name)
    assert ready.json() == {"status": "ready", "limiter": "redis"}
    assert minted.status_code == 200, minted.text
    session = minted.json()["session"]
    assert session["client_secret"]["value"].startswith("ek_")
    assert session["webrtc_url"] == f"{stub.base_url}/v1/realtime/calls"
    assert refused.status_code == 401 and refused.json()["error_code"] == "unauthorized"
    # The limiter counted the mint in the Redis beside the container.
    assert redis.Redis.from_url(redis_server.url).keys("rtg:{acme}:*")
    assert whoami.stdout.strip() == "gateway"
    assert stub.api_key not in output and tenant_key not in output
