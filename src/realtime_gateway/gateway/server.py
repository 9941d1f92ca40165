"""Runs the gateway under uvicorn with the settings' address and safe server limits (the
header phase, keep-alive and connection cap are bounded by `connection_guard`).

The first line `serve` writes to stdout names the address it listens on, the port resolved
(`--port 0` picks a free one): `realtime-gateway serving on http://HOST:PORT/`. With
`GATEWAY_ADMIN_TOKEN` set, the admin listener is a second socket of the same server
(`gateway/admin/app.py` splits the connections by the socket they came in on), and the second
line is `realtime-gateway admin on http://HOST:PORT/`.
"""

from __future__ import annotations

import math
import signal
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from realtime_gateway.gateway.admin.app import ListenerSplit, create_admin_app
from realtime_gateway.gateway.app import create_app
from realtime_gateway.gateway.connection_guard import ConnectionLimits, GuardedConfig
from realtime_gateway.gateway.observability.logs import configure_logging
from realtime_gateway.gateway.settings import Settings


def uvicorn_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
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
        # WebSocket sessions (`relay/`): websockets' sans-I/O protocol, as the stub serves
        # them; a message past the cap is refused by the protocol itself with 1009. Pings
        # find a dead peer; the relay bounds what it buffers for a slow one.
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_per_message_deflate=False,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
        timeout_keep_alive=math.ceil(settings.keepalive_timeout),
        # After SIGTERM, requests still running this long are cancelled (the supervisor of
        # several workers kills one that is still there a moment later).
        timeout_graceful_shutdown=math.ceil(settings.graceful_timeout),
        lifespan="on",
    )


def serving_line(host: str, port: int, suffix: str = "", scheme: str = "http") -> str:
    """The documented first line of `serve` on stdout (`https` with a TLS certificate)."""
    where = f"[{host}]" if ":" in host else host
    return f"realtime-gateway serving on {scheme}://{where}:{port}/{suffix}"


def admin_line(host: str, port: int) -> str:
    """The second line of `serve` when the admin listener is on."""
    where = f"[{host}]" if ":" in host else host
    return f"realtime-gateway admin on http://{where}:{port}/"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), not yet listening (uvicorn listens on it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run_gateway(settings: Settings, app: FastAPI | None = None) -> int:
    """Serve until SIGTERM or Ctrl-C, then stop gracefully; the exit code (0, or 1 when the
    address cannot be listened on)."""
    configure_logging(settings)
    app = app or create_app(settings)
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as error:
        print(
            f"realtime-gateway: cannot listen on {settings.host}:{settings.port}: {error}",
            file=sys.stderr,
        )
        return 1
    sockets = [sock]
    served: ASGIApp = app
    if settings.admin_token is not None:
        try:
            admin_sock = listening_socket(settings.admin_host, settings.admin_port)
        except OSError as error:
            sock.close()
            print(
                f"realtime-gateway: cannot listen on {settings.admin_host}:"
                f"{settings.admin_port} (admin): {error}",
                file=sys.stderr,
            )
            return 1
        sockets.append(admin_sock)
        served = ListenerSplit(app, create_admin_app(app), admin_sock.getsockname()[1])
    scheme = "https" if settings.tls_certfile else "http"
    print(serving_line(settings.host, sock.getsockname()[1], scheme=scheme), flush=True)
    if len(sockets) > 1:
        print(admin_line(settings.admin_host, sockets[1].getsockname()[1]), flush=True)
    # uvicorn stops gracefully on these, then restores the handlers it found and raises the
    # signal again. Found, this no-op handler makes that a graceful stop's end instead of the
    # process dying by the signal: one worker exits 0, as the supervisor of several does.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped)
    uvicorn.Server(uvicorn_config(settings, served)).run(sockets=sockets)
    return 0


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The stop signal uvicorn raises again after its graceful stop: nothing left to do."""
