"""`--variant granian`: the gateway's app served by granian (a Rust HTTP server, from PyPI,
installed for the bench only: `.venv/bin/uv pip install granian`) in place of uvicorn.

Granian's embedded server runs the app in this process, so the bench's CPU and memory figures
(read from this PID) count the whole server, as they do for uvicorn. Its limits are set to the
gateway's own where granian has one: header buffer (`GATEWAY_MAX_HEADER_BYTES`), header read
timeout (`GATEWAY_HEADER_TIMEOUT`); it has no keep-alive idle timeout and no connection cap
(`backpressure` bounds concurrent requests, not connections), which `connection_guard.py`
gives uvicorn.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from realtime_gateway.gateway.settings import Settings


async def serve_with_granian(app: Any, settings: Settings) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    server = Server(
        app,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,  # with the lifespan, like uvicorn's `lifespan="on"`
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels.warning,
        backlog=1024,
        backpressure=settings.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.header_timeout * 1000),
            keep_alive=True,
            max_buffer_size=max(settings.max_header_bytes, 8192),
        ),
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.stop)
    await server.serve()
