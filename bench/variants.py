"""The gateway with candidate hot-path changes applied through its seams, to measure them
before anyone edits `src/`: `python -m bench --variant granian` serves the gateway from here.

Variants (comma-separated):
  unguarded       uvicorn's plain httptools protocol, unguarded: no bound on the header
                  phase, no header timeout, no connection cap (to see what the guard prevents).
  granian         granian's embedded server in place of uvicorn (bench/granian_server.py; granian
                  from PyPI, for the bench only), for comparison.
  h11             uvicorn's h11 protocol with `h11_max_incomplete_event_size` as the header bound,
                  the alternative to the guarded httptools protocol (to see what it would cost).
  gc-frozen       the start-up heap frozen (`gc.freeze()`) and the young generation collected
                  ten times less often: how much of the mint's tail is the garbage collector.
  no-audit        no audit line written (the audit logger disabled): how much is the audit write.

Adopted in src/ after measuring them here: `async def` dependencies (plain `def` ones ran in
FastAPI's thread pool), aiohttp in place of httpx for the provider call, then a keep-alive
HTTP/1.1 client of the gateway's own in place of aiohttp (`gateway/providers/http1.py`). The
`lean-client` variant that measured it (a bare http-only pool) is retired: the production client
now costs the same per mint (docs/performance.md, "The provider client").
"""

from __future__ import annotations

import argparse
import sys

VARIANTS = ("unguarded", "h11", "granian", "gc-frozen", "no-audit")


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

    import uvicorn

    from realtime_gateway.gateway.app import create_app
    from realtime_gateway.gateway.composition import check_serving
    from realtime_gateway.gateway.observability.logs import configure_logging
    from realtime_gateway.gateway.server import uvicorn_config
    from realtime_gateway.gateway.settings import load_settings

    settings = load_settings(None, host="127.0.0.1", port=args.port)
    check_serving(settings)
    configure_logging(settings)
    app = create_app(settings)
    if "gc-frozen" in variants:
        import gc

        gc.collect()
        gc.freeze()  # what start-up made is never scanned again
        first, second, third = gc.get_threshold()
        gc.set_threshold(first * 10, second, third)
    if "no-audit" in variants:
        import logging

        from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER

        logging.getLogger(AUDIT_LOGGER).disabled = True
    print(f"gateway variant {','.join(variants)} on port {args.port}", file=sys.stderr, flush=True)
    if "granian" in variants:
        import uvloop  # uvicorn's loop too (uvicorn[standard], loop "auto")

        from bench.granian_server import serve_with_granian

        uvloop.run(serve_with_granian(app, settings))
        return 0
    config = uvicorn_config(settings, app)
    if "unguarded" in variants or "h11" in variants:
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            server_header=False,
            ws="none",
            lifespan="on",
            http="h11" if "h11" in variants else "httptools",
            h11_max_incomplete_event_size=settings.max_header_bytes,
            timeout_keep_alive=5 if "h11" in variants else 15,
        )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
