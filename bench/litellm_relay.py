"""LiteLLM's proxy as a Realtime WebSocket relay, for the ws section's side-by-side figures.

The bench installs LiteLLM (`litellm[proxy]`, pinned) in a venv of its own under `.cache/`,
outside the project's lock, on first use (a few minutes); `litellm_service(port, upstream)`
runs its proxy with one model, `gpt-realtime`, whose `api_base` is the bench's echoing
provider, so LiteLLM relays `ws://.../v1/realtime?model=gpt-realtime` to it as the gateway does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.procs import HOST, REPO, Service

PACKAGE = "litellm[proxy]==1.108.7"
VENV = REPO / ".cache" / "litellm-venv"
MASTER_KEY = "sk-litellm-bench-0000"
INSTALL_TIMEOUT = 900


def litellm_binary() -> Path:
    """LiteLLM's CLI in its venv, installed first if it is not there."""
    binary = VENV / "bin" / "litellm"
    if binary.is_file():
        return binary
    print(f"# installing {PACKAGE} into {VENV} (once)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", PACKAGE],
        check=True,
        timeout=INSTALL_TIMEOUT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return binary


def litellm_service(port: int, upstream_port: int, workdir: Path) -> Service:
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-realtime\n"
        "    litellm_params:\n"
        "      model: openai/gpt-realtime\n"
        "      api_key: sk-bench\n"
        f"      api_base: http://{HOST}:{upstream_port}\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    return Service(
        name="litellm",
        command=[
            str(litellm_binary()),
            "--config",
            str(config),
            "--host",
            HOST,
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        port=port,
        # No network here: LiteLLM's model price map from its package, not fetched.
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"},
        health_url=f"http://{HOST}:{port}/health/liveliness",
    )
