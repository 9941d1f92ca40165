"""`realtime-gateway demo`: the stub and the gateway in one process, wired together, offline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import sys
from collections.abc import Iterator

import uvicorn

from realtime_gateway import ice
from realtime_gateway.app import create_app
from realtime_gateway.logs import configure_logging
from realtime_gateway.server import uvicorn_config
from realtime_gateway.settings import ConfigError, Settings, load_settings
from realtime_gateway.stub.server import StubConfig, create_stub_app

DEMO_TENANT = "demo"
START_TIMEOUT = 15.0


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the demo, which stops both servers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def demo_settings(
    host: str, port: int, stub_url: str, provider_key: str, tenant_key: str
) -> Settings:
    return load_settings(
        None,
        host=host,
        port=port,
        openai_api_key=provider_key,
        api_keys=[f"{DEMO_TENANT}:{tenant_key}"],
        provider_endpoint=f"{stub_url}/v1/realtime/client_secrets",
        allowed_endpoints=[
            f"{stub_url}/v1/realtime/client_secrets",
            f"{stub_url}/v1/realtime/sessions",
        ],
    )


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None], name: str) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the {name} did not start (is its port free?)")
        await asyncio.sleep(0.02)


async def serve_demo(host: str, port: int, stub_port: int) -> int:
    # Loopback ICE: every peer offers 127.0.0.1 only, so no ICE check leaves the machine.
    ice.use_loopback_only()
    # Random per run and shared only in memory: there is nothing for a newcomer to set or leak.
    provider_key = "sk-demo-" + secrets.token_urlsafe(24)
    tenant_key = secrets.token_urlsafe(24)
    stub_url = f"http://127.0.0.1:{stub_port}"
    try:
        settings = demo_settings(host, port, stub_url, provider_key, tenant_key)
        settings.validate_for_serving()
    except (ConfigError, ValueError) as error:
        print(f"realtime-gateway demo: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    stub_app = create_stub_app(
        StubConfig(api_key=provider_key, loopback_ice=True, reply_on_speech=True)
    )
    stub = _Server(
        uvicorn.Config(
            stub_app,
            host="127.0.0.1",
            port=stub_port,
            log_level="warning",
            ws="none",
            lifespan="on",
        )
    )
    gateway = _Server(uvicorn_config(settings, create_app(settings)))
    servers = (stub, gateway)

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.ensure_future(server.serve()) for server in servers]
    try:
        await _wait_started(stub, tasks[0], "stub")
        await _wait_started(gateway, tasks[1], "gateway")
        print(
            "realtime-gateway demo: the gateway and the offline provider stub, wired together\n"
            f"  UI:         http://{host}:{port}/\n"
            f"  tenant:     {DEMO_TENANT}\n"
            f"  tenant key: {tenant_key}\n"
            f"  stub:       {stub_url}/v1 (loopback ICE)\n"
            "Paste the tenant key into the UI's Gateway key field. Ctrl-C stops both.",
            flush=True,
        )
        # Either server stopping (a signal, or a crash) stops the other.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except RuntimeError as error:
        print(f"realtime-gateway demo: {error}", file=sys.stderr)
        return 1
    finally:
        stop()
        await asyncio.wait(tasks, timeout=START_TIMEOUT)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    return 1 if failed else 0


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(serve_demo(args.host, args.port, args.stub_port))
