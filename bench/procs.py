"""The real processes a benchmark measures: the stub, the gateway and redis-server, on 127.0.0.1.

Every wait is bounded; every process started here is stopped by its own id. The process
helpers (`free_port`, `rss_kb`, `stop_process`) are the tests' too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
PROVIDER_KEY = "sk-bench-" + "0" * 24
TENANTS = 64
MODEL = "gpt-realtime"
VOICE = "verse"
# The shortest TTL both sides accept: it keeps the stub's secret store small (expired secrets
# leave an expiry heap as each mint passes them), so the direct baseline measures minting.
SECRET_TTL = 10
BIN = Path(sys.executable).with_name("realtime-gateway")
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def tenant_key(index: int) -> str:
    return f"bench-key-{index:03d}-" + "k" * 24


def tenant_keys() -> list[str]:
    return [tenant_key(index) for index in range(TENANTS)]


def rss_kb(pid: int) -> int:
    """VmRSS of a live process, in kB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate a child, and kill it if it has not exited within `timeout`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, all its threads."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def post_json(url: str, token: str, body: dict[str, object], timeout: float = 5.0) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@dataclass
class Service:
    """A child process with its log file."""

    name: str
    command: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = None

    def start(self, workdir: Path, timeout: float = 20.0) -> None:
        self.log_path = workdir / f"{self.name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            # The gateway writes an audit line per request to stdout: never a pipe nobody reads.
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}")
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout} s; see {self.log_path}")

    def ready(self) -> bool:
        if self.health_url is not None:
            return http_ok(self.health_url, timeout=0.5)
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
            return True
        return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def stub_service(port: int) -> Service:
    return Service(
        name="stub",
        command=[str(BIN), "stub", "--host", HOST, "--port", str(port), "--loopback-ice"],
        port=port,
        env={"OPENAI_API_KEY": PROVIDER_KEY},
        health_url=f"http://{HOST}:{port}/healthz",
    )


def canned_upstream_service(port: int) -> Service:
    """`bench/canned_upstream.py`: the same mint answer to every request, at little cost."""
    return Service(
        name="canned-upstream",
        command=[
            sys.executable,
            "-m",
            "bench.canned_upstream",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        port=port,
    )


def stub_ga_endpoint(stub_port: int) -> str:
    return f"http://{HOST}:{stub_port}/v1/realtime/client_secrets"


def gateway_service(port: int, stub_port: int, variant: str | None = None) -> Service:
    """`realtime-gateway serve`, or with `variant` the same app with candidate changes."""
    endpoint = stub_ga_endpoint(stub_port)
    command = [str(BIN), "serve", "--host", HOST, "--port", str(port)]
    if variant:
        command = [sys.executable, "-m", "bench.variants", "--port", str(port)]
        command += ["--variant", variant]
    keys = ",".join(f"tenant{index:03d}:{key}" for index, key in enumerate(tenant_keys()))
    return Service(
        name="gateway",
        command=command,
        port=port,
        env={
            "OPENAI_API_KEY": PROVIDER_KEY,
            "GATEWAY_API_KEYS": keys,
            "GATEWAY_RATE_LIMIT": "1000000/minute",
            "GATEWAY_PROVIDER_ENDPOINT": endpoint,
            "GATEWAY_ALLOWED_ENDPOINTS": endpoint,
            "GATEWAY_SECRET_TTL": str(SECRET_TTL),
        },
        health_url=f"http://{HOST}:{port}/healthz",
    )


def redis_service(port: int) -> Service:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    return Service(
        name="redis",
        command=[
            server,
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        port=port,
    )


def gateway_body() -> str:
    return json.dumps({"model": MODEL, "voice": VOICE})


def direct_body() -> str:
    """What the gateway's GA adapter sends the provider, byte for byte in meaning."""
    return json.dumps(
        {
            "expires_after": {"anchor": "created_at", "seconds": SECRET_TTL},
            "session": {"type": "realtime", "model": MODEL, "audio": {"output": {"voice": VOICE}}},
        }
    )


class Stack:
    """The stub and a gateway wired to it, plus a scratch directory for their logs."""

    def __init__(self, variant: str | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="rtg-bench-"))
        self.stub = stub_service(free_port())
        self.gateway = gateway_service(free_port(), self.stub.port, variant)

    def start(self) -> None:
        self.stub.start(self.workdir)
        self.gateway.start(self.workdir)

    def restart_stub(self) -> None:
        """A fresh stub on the same port: an empty secret store for the next phase."""
        self.stub.stop()
        self.stub.start(self.workdir)

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway.port}"

    @property
    def stub_url(self) -> str:
        return f"http://{HOST}:{self.stub.port}"

    def stop(self) -> None:
        self.gateway.stop()
        self.stub.stop()

    def logs_tail(self, lines: int = 20) -> str:
        parts = []
        for service in (self.stub, self.gateway):
            if service.log_path and service.log_path.exists():
                tail = service.log_path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {service.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)
