"""A core install serves: `serve` loads no media (aiortc, av, numpy, aioice) and no httpx, and a
subcommand whose extra is missing names the extra to install, in one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import gateway_process
from tests.fixtures.provider import PROVIDER_KEY, scripted_provider

EXTRA_PACKAGES = ("aiortc", "aioice", "av", "numpy", "httpx")

# Runs the CLI with `blocked` unimportable, as on an install without the extra that brings it.
WITHOUT_PACKAGES = """
import sys

blocked = set(sys.argv[1].split(","))


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
from realtime_gateway.cli import main

sys.exit(main(sys.argv[2:]))
"""


def imported_modules(importtime_output: str) -> set[str]:
    """Top-level names of every module `python -X importtime` reported importing."""
    names = set()
    for line in importtime_output.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_serve_loads_no_media_and_no_httpx_while_minting(tmp_path: Path) -> None:
    key = "rtg_lean_acme_key_0123456789abcdef"
    with (
        scripted_provider() as provider,
        gateway_process(
            tmp_path,
            PYTHONPROFILEIMPORTTIME="1",
            OPENAI_API_KEY=PROVIDER_KEY,
            GATEWAY_API_KEYS=f"acme:{key}",
            GATEWAY_PROVIDER_ENDPOINT=provider.ga_endpoint,
            GATEWAY_ALLOWED_ENDPOINTS=provider.ga_endpoint,
        ) as gateway,
    ):
        # Every route a user reaches, so lazily imported code is loaded too.
        with httpx.Client(base_url=gateway.base_url, timeout=10) as http:
            minted = http.post(
                "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert minted.status_code == 200, minted.text
            for path in ("/", "/readyz", "/metrics", "/openapi.json", "/no-such-route"):
                http.get(path)
        mapped = Path(f"/proc/{gateway.pid}/maps").read_text()
    imported = imported_modules(gateway.output())
    assert {"fastapi", "aiohttp", "realtime_gateway"} <= imported  # the report is real
    assert imported.isdisjoint(EXTRA_PACKAGES), imported & set(EXTRA_PACKAGES)
    # The compiled halves of av, numpy and aiortc would show as mapped shared objects.
    for package in ("/av/", "/numpy/", "/aiortc/", "numpy.libs", "av.libs"):
        assert package not in mapped


@pytest.mark.parametrize(
    ("blocked", "command", "extra"),
    [
        ("aiortc", ["stub"], "stub"),
        ("av,numpy", ["demo"], "demo"),
        ("numpy", ["connect"], "client,media"),
        ("httpx", ["connect"], "client,media"),
    ],
)
def test_subcommand_without_its_extra_names_it_in_one_line(
    blocked: str, command: list[str], extra: str
) -> None:
    arguments = {
        "stub": ["--port", "0"],
        "demo": ["--port", "0", "--stub-port", "0"],
        "connect": ["--gateway", "http://127.0.0.1:9", "--api-key", "k", "--model", "m"]
        + ["--voice", "v"],
    }[command[0]]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PACKAGES, blocked, *command, *arguments],
        env={**os.environ, "XDG_STATE_HOME": "/nonexistent-state-never-written"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pip install 'realtime-gateway[{extra}]'" in lines[0]
    assert lines[0].startswith(f"realtime-gateway {command[0]}: ")


def test_serve_runs_without_any_extra(tmp_path: Path) -> None:
    # With every extra's packages unimportable, `serve` still builds its app (whose key parsing
    # refuses this configuration, after every gateway module is imported).
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PACKAGES, ",".join(EXTRA_PACKAGES), "serve"],
        env={
            "PATH": "/usr/bin:/bin",
            "OPENAI_API_KEY": "sk-x",
            "GATEWAY_API_KEYS": "acme:k1",
            "GATEWAY_JWT_PUBLIC_KEY": "not a pem",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a PEM public key" in result.stderr and "Traceback" not in result.stderr
