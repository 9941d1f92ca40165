"""The gateway with candidate hot-path changes applied through its seams, to measure them
before anyone edits `src/`: `python -m bench --variant async-deps` serves the gateway from here.

Variants (comma-separated):
  async-deps      the `RuntimeDep` and `TenantDep` dependencies as `async def`. As plain `def`
                  they run in FastAPI's thread pool: two thread hand-offs per request, and the
                  event loop fights the worker threads for the GIL.
  lean-client     the provider call on a minimal keep-alive HTTP/1.1 pool over asyncio (http://
                  only, no redirects) instead of httpx: the floor of what an upstream call costs.
  aiohttp-client  the provider call through aiohttp's ClientSession (needs `pip install aiohttp`;
                  not a project dependency): a mature client that is much cheaper than httpx.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fastapi import Request

from realtime_gateway import runtime as runtime_module
from realtime_gateway.auth import Tenant
from realtime_gateway.runtime import Runtime, RuntimeDep

VARIANTS = ("async-deps", "lean-client", "aiohttp-client")


async def get_runtime_async(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def authenticated_tenant_async(request: Request, runtime: RuntimeDep) -> Tenant:
    tenant = runtime.authenticator.authenticate(request.headers.get("authorization"))
    request.state.tenant = tenant.name
    return tenant


def _retarget(alias: Any, dependency: Any) -> None:
    # `Depends` is a frozen dataclass; routes read it when they are declared, so this must run
    # before `realtime_gateway.sessions` is imported. The result is the dependant an `async def`
    # in src/ would give (dependency_overrides would instead re-inspect it on every request).
    object.__setattr__(alias.__metadata__[0], "dependency", dependency)


def apply(variants: list[str]) -> None:
    if "realtime_gateway.sessions" in sys.modules:
        raise RuntimeError("variants must be applied before the gateway's routes are imported")
    if "async-deps" in variants:
        _retarget(runtime_module.RuntimeDep, get_runtime_async)
        _retarget(runtime_module.TenantDep, authenticated_tenant_async)


def parse_variants(text: str) -> list[str]:
    variants = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in variants if item not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    return variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--variant", required=True)
    args = parser.parse_args(argv)
    variants = parse_variants(args.variant)
    apply(variants)

    import uvicorn

    from realtime_gateway.app import create_app
    from realtime_gateway.logs import configure_logging
    from realtime_gateway.server import uvicorn_config
    from realtime_gateway.settings import load_settings

    settings = load_settings(None, host="127.0.0.1", port=args.port)
    settings.validate_for_serving()
    configure_logging(settings)
    http_client: Any = None
    if "lean-client" in variants:
        from bench.lean_client import LeanClient

        http_client = LeanClient()
    elif "aiohttp-client" in variants:
        from bench.lean_client import AiohttpClient

        http_client = AiohttpClient()
    # Duck-typed stand-ins for httpx.AsyncClient: `post_json` only calls `.post(...)`.
    app = create_app(settings, http_client=http_client)
    print(f"gateway variant {','.join(variants)} on port {args.port}", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn_config(settings, app)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
