"""The first hour on a fresh checkout: `scripts/setup demo` (what `scripts/demo` runs first)
in a copy of the project, then that install's `realtime-gateway demo` and `connect`, with no
other install. The copy's .venv comes from uv.lock (uv's cache makes it a few seconds)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import wave
from pathlib import Path

from tests.fixtures.servers import free_port
from tests.fixtures.stub import SpawnedCommand

ROOT = Path(__file__).resolve().parents[2]


def project_copy(target: Path) -> Path:
    """The files a clone has (tracked or not yet), without .venv, caches and build output."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_scripts_demo_install_then_connect_needs_nothing_else(tmp_path: Path) -> None:
    project = project_copy(tmp_path / "checkout")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI_"))}
    environment.pop("VIRTUAL_ENV", None)
    setup = subprocess.run(
        ["scripts/setup", "demo"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    installed = (project / ".venv" / "realtime-gateway-extras").read_text().split()
    assert installed == ["demo"]
    venv_bin = project / ".venv" / "bin"
    assert venv_bin.resolve() != Path(sys.executable).parent.resolve()

    port, stub_port = free_port(), free_port()
    demo = SpawnedCommand(
        [
            str(venv_bin / "realtime-gateway"),
            *("demo", "--port", str(port), "--stub-port", str(stub_port), "--loopback-ice"),
        ],
        {**environment, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    try:
        demo.wait_for_line("UI:", timeout=60)
        key = demo.wait_for_line("tenant key:", timeout=5).split()[-1]
        out = tmp_path / "reply.wav"
        connect = subprocess.run(
            [
                str(venv_bin / "realtime-gateway"),
                *("connect", "--gateway", f"http://127.0.0.1:{port}", "--api-key", key),
                *("--model", "gpt-realtime", "--voice", "verse", "--prompt", "Say hello."),
                *("--out", str(out), "--seconds", "2", "--loopback-ice"),
            ],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert connect.returncode == 0, connect.stderr
        assert "is not installed" not in connect.stderr
        with wave.open(str(out)) as reply:
            assert reply.getnframes() > 0
        assert "session.created" in connect.stdout  # the provider's events, as JSON lines
    finally:
        demo.process.send_signal(signal.SIGINT)
        if demo.process.poll() is None:
            try:
                demo.process.wait(15)
            except subprocess.TimeoutExpired:
                demo.process.kill()
                demo.process.wait(10)
