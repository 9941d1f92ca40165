"""Runs the gateway under uvicorn with the settings' address and safe server limits (the
header phase, keep-alive and connection cap are bounded by `connection_guard`)."""

from __future__ import annotations

import math
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from realtime_gateway.gateway.app import create_app
from realtime_gateway.gateway.connection_guard import ConnectionLimits, GuardedConfig
from realtime_gateway.gateway.observability.logs import configure_logging
from realtime_gateway.gateway.settings import Settings


def uvicorn_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    return GuardedConfig(
        app,
        limits=ConnectionLimits.from_settings(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,  # uvicorn's own lines go through the gateway's (redacting) formatter
        access_log=False,
        server_header=False,
        proxy_headers=False,
        ws="none",
        timeout_keep_alive=math.ceil(settings.keepalive_timeout),
        lifespan="on",
    )


def run_gateway(settings: Settings, app: FastAPI | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C, then stop gracefully and return (so `serve` exits 0)."""
    configure_logging(settings)
    app = app or create_app(settings)
    print(f"realtime-gateway serving on http://{settings.host}:{settings.port}/", flush=True)
    # uvicorn stops gracefully on these, then restores the handlers it found and raises the
    # signal again. Found, this no-op handler makes that a graceful stop's end instead of the
    # process dying by the signal: one worker exits 0, as the supervisor of several does.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped)
    uvicorn.Server(uvicorn_config(settings, app)).run()


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The stop signal uvicorn raises again after its graceful stop: nothing left to do."""
