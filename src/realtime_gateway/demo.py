"""`realtime-gateway demo`: the stub and the gateway in one process, wired together, offline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
from typing import Any

import aiohttp
import uvicorn

from realtime_gateway.demo_key import demo_key, state_directory
from realtime_gateway.gateway.app import create_app
from realtime_gateway.gateway.composition import check_serving
from realtime_gateway.gateway.observability.logs import configure_logging
from realtime_gateway.gateway.server import uvicorn_config
from realtime_gateway.gateway.settings import ConfigError, Settings, load_settings
from realtime_gateway.media import ice
from realtime_gateway.stub.server import StubConfig, create_stub_app
from realtime_gateway.stub.serving import QuietServer, serve_together
from realtime_gateway.webhook_signing import WebhookSecret

DEMO_TENANT = "demo"
# Enough to click around and reconnect freely; the production default (3/minute) is not.
DEMO_RATE_LIMIT = "30/minute"
# `--phone`: the demo tenant's number, dialled by the stub soon after start and then again
# every so often; each call is cut at its limit.
DEMO_NUMBER = "+15550100123"
DEMO_CALLER = "+15550100999"
PHONE_FIRST_DIAL = 5.0
PHONE_EVERY = 45.0
PHONE_MAX_CALL_SECONDS = 20


def demo_settings(
    host: str,
    port: int,
    stub_url: str,
    provider_key: str,
    tenant_key: str,
    call_mode: str = "direct",
    webhook_secret: str | None = None,
) -> Settings:
    phone: dict[str, Any] = {}
    if webhook_secret is not None:
        phone = {
            "openai_webhook_secret": webhook_secret,
            "tenant_policies": {
                DEMO_TENANT: {
                    "phone_numbers": [DEMO_NUMBER],
                    "phone_answer": "policy",
                    "max_call_seconds": PHONE_MAX_CALL_SECONDS,
                    "instructions": "You answer the demo line. Be brief and friendly.",
                }
            },
        }
    return load_settings(
        None,
        host=host,
        port=port,
        openai_api_key=provider_key,
        api_keys=[f"{DEMO_TENANT}:{tenant_key}"],
        rate_limit=DEMO_RATE_LIMIT,
        provider_endpoint=f"{stub_url}/v1/realtime/client_secrets",
        allowed_endpoints=[
            f"{stub_url}/v1/realtime/client_secrets",
            f"{stub_url}/v1/realtime/sessions",
        ],
        call_mode=call_mode,
        **phone,
    )


def dial_body() -> dict[str, str]:
    return {"to": DEMO_NUMBER, "from": DEMO_CALLER, "speak": "Hello, is this the demo line?"}


async def dial_now_and_then(stub_url: str, provider_key: str) -> None:
    """The stub dials the demo tenant's number: soon after start, then every PHONE_EVERY s."""
    await asyncio.sleep(PHONE_FIRST_DIAL)
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.post(
                    f"{stub_url}/_stub/sip/dial",
                    json=dial_body(),
                    headers={"Authorization": f"Bearer {provider_key}"},
                ) as answer:
                    body = await answer.json(content_type=None)
                    print(
                        f"realtime-gateway demo: the stub dials {DEMO_NUMBER} "
                        f"({body.get('call_id', answer.status)})",
                        flush=True,
                    )
            await asyncio.sleep(PHONE_EVERY)


async def serve_demo(
    host: str,
    port: int,
    stub_port: int,
    loopback_ice: bool = False,
    new_key: bool = False,
    call_mode: str = "direct",
    phone: bool = False,
) -> int:
    # The stub offers the machine's interfaces, which an ordinary browser pairs with, and
    # 127.0.0.1, which a loopback-only host pairs with. `--loopback-ice` offers 127.0.0.1 alone
    # and keeps only 127.0.0.1 among the browser's candidates: then no check leaves loopback.
    if loopback_ice:
        ice.use_loopback_only()
    else:
        ice.use_interfaces_and_loopback()
    # The provider key is random per run and shared only in memory: nothing to set or leak.
    # The tenant key is kept in the user's state directory: the UI remembers it across runs.
    provider_key = "sk-demo-" + secrets.token_urlsafe(24)
    try:
        tenant_key = demo_key(rotate=new_key)
    except OSError as error:
        print(
            f"realtime-gateway demo: cannot keep the demo key in {state_directory()}: "
            f"{error.strerror or error}",
            file=sys.stderr,
        )
        return 2
    stub_url = f"http://127.0.0.1:{stub_port}"
    # `--phone`: the stub signs its webhooks with a secret made for this run.
    webhook_secret = WebhookSecret.generate()[1] if phone else None
    try:
        settings = demo_settings(
            host, port, stub_url, provider_key, tenant_key, call_mode, webhook_secret
        )
        check_serving(settings)
    except (ConfigError, ValueError) as error:
        print(f"realtime-gateway demo: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    webhook_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    stub_app = create_stub_app(
        # No greeting: the UI (and `connect`) ask for the first response, as against OpenAI.
        StubConfig(
            api_key=provider_key,
            loopback_ice=loopback_ice,
            reply_on_speech=True,
            webhook_url=f"http://{webhook_host}:{port}/webhooks/openai" if phone else None,
            webhook_secret=webhook_secret,
        )
    )
    stub = QuietServer(
        uvicorn.Config(
            stub_app,
            host="127.0.0.1",
            port=stub_port,
            log_level="warning",
            ws="websockets-sansio",  # the stub's sidebands
            lifespan="on",
        )
    )
    gateway = QuietServer(uvicorn_config(settings, create_app(settings)))

    ice_mode = "ICE on 127.0.0.1 only" if loopback_ice else "ICE on this machine's interfaces"

    def announce() -> None:
        print(
            "realtime-gateway demo: the gateway and the offline provider stub, wired together\n"
            f"  UI:         http://{host}:{port}/\n"
            f"  tenant:     {DEMO_TENANT}\n"
            f"  tenant key: {tenant_key}\n"
            f"  rate:       {DEMO_RATE_LIMIT} session creations for the demo tenant\n"
            f"  stub:       {stub_url}/v1 ({ice_mode})\n"
            f"  call mode:  {call_mode} (gpt-live-* models are always brokered)\n"
            "Paste the tenant key into the UI's Gateway key field. The key stays the same across\n"
            f"runs (kept in {state_directory()}; --new-key makes a new one). Ctrl-C stops both.",
            flush=True,
        )
        if phone:
            print(
                f"  phone:      the stub dials {DEMO_NUMBER} (the demo tenant's) in "
                f"{PHONE_FIRST_DIAL:g} s, then every {PHONE_EVERY:g} s; the gateway answers by\n"
                f"              policy and cuts each call at {PHONE_MAX_CALL_SECONDS} s: watch "
                "Tenant calls in the UI",
                flush=True,
            )
            dialling.append(asyncio.ensure_future(dial_now_and_then(stub_url, provider_key)))

    dialling: list[asyncio.Future[None]] = []
    try:
        code = await serve_together([stub, gateway], on_started=announce)
    finally:
        for task in dialling:
            task.cancel()
    if code != 0:
        print("realtime-gateway demo: a server failed (is its port free?)", file=sys.stderr)
    return code


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(
        serve_demo(
            args.host,
            args.port,
            args.stub_port,
            args.loopback_ice,
            args.new_key,
            args.call_mode,
            args.phone,
        )
    )
