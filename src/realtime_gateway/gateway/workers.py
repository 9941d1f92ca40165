"""`serve --workers N`: N gateway processes on one port, each with its own event loop.

The supervisor reserves the port (bound with SO_REUSEPORT, never listening, so it receives no
connection and `--port 0` resolves once), then forks N workers; each listens on its own
SO_REUSEPORT socket on that port, and the kernel spreads new connections between them (the
bench measured 46-54% of the work per worker this way; one shared accept socket, where the
first worker to wake takes a burst of keep-alive connections, gave 61/39). Each worker builds
its own limiter and HTTP client in its lifespan (nothing bound to an event loop crosses the
fork), and shares state with the others only through Redis. With `GATEWAY_ADMIN_TOKEN` the
admin port is reserved the same way and every worker listens on it too (the registry, the
calls and the outbox are in Redis, so any worker answers for all).

On SIGTERM or SIGINT the supervisor passes SIGTERM to every worker: each closes its listening
socket, finishes its in-flight requests (for at most `GATEWAY_GRACEFUL_TIMEOUT`, then uvicorn
cancels them), and exits. Once every worker's socket is closed, new connections are refused. A
worker still alive `KILL_GRACE_SECONDS` after the graceful timeout (stuck: a blocked event loop,
a stopped process) is killed with SIGKILL, so the supervisor never waits for ever. A worker
that dies on its own is replaced, unless it died within `CRASH_LOOP_SECONDS` of its start (a
crash loop): then all stop. A supervisor that is killed outright takes its workers with it
(they get SIGTERM and finish what they hold).

Linux only: the workers use `prctl(PR_SET_PDEATHSIG)`, the supervisor `sigwaitinfo` and
`sigtimedwait`, and the kernel's SO_REUSEPORT balancing spreads the connections (other systems
give every connection to one socket or have no such call). `serve_workers` refuses to start
several workers anywhere else; one worker (`serve` without `--workers`) runs everywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from realtime_gateway.gateway.admin.app import ListenerSplit, create_admin_app
from realtime_gateway.gateway.leash.replica_lock import LOCK_ENV
from realtime_gateway.gateway.observability.logs import configure_logging
from realtime_gateway.gateway.server import admin_line, serving_line, uvicorn_config
from realtime_gateway.gateway.settings import Settings

log = logging.getLogger("realtime_gateway.gateway.workers")

CRASH_LOOP_SECONDS = 2.0
KILL_GRACE_SECONDS = 5.0  # past the graceful timeout: time for the lifespan's shutdown
BACKLOG = 2048
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
WATCHED = {*STOP_SIGNALS, signal.SIGCHLD}


def _socket_for(host: str, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def bind_port(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT to (host, port), not yet listening.

    SO_REUSEPORT would let a second gateway started on the same port join this one's group
    and take half its connections without a word; a plain bind first fails with EADDRINUSE
    when anything already listens there (and resolves port 0)."""
    with _socket_for(host, reuse_port=False) as probe:
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sock = _socket_for(host, reuse_port=True)
    sock.bind((host, port))
    return sock


def listen_on(reserved: socket.socket) -> socket.socket:
    """A worker's own listening socket on the reserved port."""
    host, port = reserved.getsockname()[:2]
    listener = _socket_for(host, reuse_port=True)
    listener.bind((host, port))
    listener.listen(BACKLOG)
    return listener


PR_SET_PDEATHSIG = 1


def die_with(supervisor: int) -> None:
    """SIGTERM this worker when its supervisor dies, even by SIGKILL: no orphan keeps the port.
    (Linux prctl; if the supervisor died before the call, stop at once.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)


def run_worker(
    settings: Settings,
    app: FastAPI,
    listener: socket.socket,
    admin_listener: socket.socket | None = None,
) -> None:
    """One worker: uvicorn on the shared socket (and the admin one), with uvicorn's own
    graceful SIGTERM."""
    configure_logging(settings)
    served: ASGIApp = app
    sockets = [listener]
    if admin_listener is not None:
        served = ListenerSplit(app, create_admin_app(app), admin_listener.getsockname()[1])
        sockets.append(admin_listener)
    uvicorn.Server(uvicorn_config(settings, served)).run(sockets=sockets)


@dataclass
class Supervisor:
    """Forks and watches the workers; the parent never serves a request itself. `reserved` is
    the port's bound, never listening, socket."""

    settings: Settings
    app: FastAPI
    reserved: socket.socket
    count: int
    admin_reserved: socket.socket | None = None  # the admin port, when the admin listener is on
    started: dict[int, float] = field(default_factory=dict)
    stopping: bool = False
    stop_deadline: float | None = None  # monotonic: stuck workers are killed then
    exit_code: int = 0

    def spawn(self) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
                die_with(supervisor)
                listener = listen_on(self.reserved)
                self.reserved.close()
                admin = None
                if self.admin_reserved is not None:
                    admin = listen_on(self.admin_reserved)
                    self.admin_reserved.close()
                run_worker(self.settings, self.app, listener, admin)
                code = 0
            except Exception:
                log.exception("worker failed")
            finally:  # a worker never returns into the CLI's code
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.started[pid] = time.monotonic()

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
        for _ in range(self.count):
            self.spawn()
        while self.started:
            if self.stop_deadline is None:
                received = signal.sigwaitinfo(WATCHED)
            else:
                remaining = self.stop_deadline - time.monotonic()
                waited = signal.sigtimedwait(WATCHED, max(0.0, remaining))
                if waited is None:  # the deadline passed with workers still there
                    self.kill_stuck()
                    continue
                received = waited
            if received.si_signo in STOP_SIGNALS:
                self.stop()
            else:
                self.reap()
        return self.exit_code

    def stop(self) -> None:
        """Each worker stops accepting, finishes what it holds, then exits; none is replaced."""
        if not self.stopping:
            self.stopping = True
            self.reserved.close()
            if self.admin_reserved is not None:
                self.admin_reserved.close()
            self.stop_deadline = (
                time.monotonic() + self.settings.graceful_timeout + KILL_GRACE_SECONDS
            )
        for pid in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def kill_stuck(self) -> None:
        """Past the stop deadline: SIGKILL every worker left, then reap them."""
        for pid in list(self.started):
            log.error("worker %d did not stop within the graceful timeout; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.exit_code = 1
        while self.started:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                self.started.clear()
                return
            self.started.pop(pid, None)

    def reap(self) -> None:
        while self.started:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.started.clear()
                return
            if pid == 0:
                return
            lived = time.monotonic() - self.started.pop(pid, time.monotonic())
            if self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if lived < CRASH_LOOP_SECONDS:
                log.error("worker %d exited with %d at start-up; stopping", pid, code)
                self.exit_code = 1
                self.stop()
            else:
                log.warning("worker %d exited with %d; starting another", pid, code)
                self.spawn()


def unsupported_platform(platform: str = sys.platform) -> str | None:
    """Why several workers cannot run on `platform`, or None on Linux."""
    if platform.startswith("linux"):
        return None
    return (
        f"--workers needs Linux (prctl, sigwaitinfo, SO_REUSEPORT balancing); on {platform} "
        "run one worker per process (GATEWAY_WORKERS=1) and several processes behind a balancer"
    )


def serve_workers(settings: Settings, app: FastAPI, count: int) -> int:
    """Serve `app` from `count` forked workers until SIGTERM; the exit code of the whole."""
    refusal = unsupported_platform()
    if refusal is not None:
        print(f"realtime-gateway: {refusal}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        reserved = bind_port(settings.host, settings.port)
    except OSError as error:
        print(
            f"realtime-gateway: cannot listen on {settings.host}:{settings.port}: {error}",
            file=sys.stderr,
        )
        return 1
    admin_reserved = None
    if settings.admin_token is not None:  # every worker serves the admin API too
        try:
            admin_reserved = bind_port(settings.admin_host, settings.admin_port)
        except OSError as error:
            reserved.close()
            print(
                f"realtime-gateway: cannot listen on {settings.admin_host}:"
                f"{settings.admin_port} (admin): {error}",
                file=sys.stderr,
            )
            return 1
    port = reserved.getsockname()[1]
    scheme = "https" if settings.tls_certfile else "http"
    print(serving_line(settings.host, port, f" with {count} workers", scheme), flush=True)
    if admin_reserved is not None:
        print(admin_line(settings.admin_host, admin_reserved.getsockname()[1]), flush=True)
    supervisor = Supervisor(
        settings=settings, app=app, reserved=reserved, count=count, admin_reserved=admin_reserved
    )
    with reaper_lock_file():
        return supervisor.run()


@contextlib.contextmanager
def reaper_lock_file() -> Iterator[None]:
    """The file the workers elect this replica's one reaper with (`leash/replica_lock.py`),
    in a directory of the supervisor's own, removed when it stops. An operator's own
    `REALTIME_GATEWAY_REAPER_LOCK` is kept."""
    if os.environ.get(LOCK_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="realtime-gateway-") as directory:
        os.environ[LOCK_ENV] = os.path.join(directory, "reaper.lock")
        try:
            yield
        finally:
            del os.environ[LOCK_ENV]
