"""The phase before the app sees a request, bounded: the HTTP protocol `serve` runs.

uvicorn's httptools protocol has no limit of its own on the request line and headers (one
unterminated 256 MiB header line grew the process by hundreds of MB), no timeout while they
arrive, and nothing between it and the descriptor limit. `GuardedHttpToolsProtocol` counts the
bytes before the blank line and answers 431 the moment they pass the bound; closes a request
whose headers are not complete within the header timeout (408) and a connection idle between
requests past the keep-alive timeout; and answers 503 to connections beyond the cap.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from realtime_gateway.gateway.errors import (
    GatewayError,
    HeadersTooLarge,
    RequestTimeout,
    ServerBusy,
    error_json,
)
from realtime_gateway.gateway.settings import Settings

log = logging.getLogger("realtime_gateway.gateway.connections")

# Descriptors kept back from the connection cap: provider pool, Redis pool, logs, listeners.
RESERVED_DESCRIPTORS = 256
# How long a refused connection stays half-closed, not read, before it is closed: time for the
# client to read the answer before the reset that closing over its unread bytes sends.
LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
            keepalive_timeout=settings.keepalive_timeout,
            max_connections=descriptor_safe_cap(settings.max_connections),
        )


def descriptor_safe_cap(requested: int) -> int:
    """`requested`, or less when the descriptor limit could not hold it (after raising the soft
    limit toward the hard one): past the cap a connection gets 503, never EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = requested + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return requested
    capped = max(1, soft - RESERVED_DESCRIPTORS)
    log.warning(
        "connection cap lowered to fit the descriptor limit",
        extra={"requested": requested, "cap": capped, "nofile": soft},
    )
    return capped


class GuardedConfig(uvicorn.Config):
    """uvicorn's config, serving with `GuardedHttpToolsProtocol` under `limits`. A plain
    attribute (not a class made on the fly) so the config pickles into worker processes."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedHttpToolsProtocol, **kwargs)
        self.connection_limits = limits


def raw_error_response(error: GatewayError) -> bytes:
    """The documented error body as a whole HTTP/1.1 answer that closes the connection."""
    body = error_json(error)
    head = (
        f"HTTP/1.1 {error.status_code} {HTTPStatus(error.status_code).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools, with the header phase and the time between requests bounded.

    Bytes are counted from a request's first byte (from the connection's first for the first
    request) until the parser reports the headers complete; when one read holds the end of a
    request and the start of the next, the rest of that read (at most one socket read) is
    not counted, and the count starts with the next read.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        limits = getattr(config, "connection_limits", None)
        self._limits = limits if isinstance(limits, ConnectionLimits) else ConnectionLimits()
        self._header_bytes = 0
        self._reading_headers = False
        self._over_cap = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._answered = False  # refused and answered: nothing more is read or parsed

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Answered at its first bytes: a response written before the request arrives would be
        # lost to the reset that closing with unread data sends.
        self._over_cap = len(self.connections) > self._limits.max_connections
        self._begin_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._cancel(self._linger_timer)
        self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return
        if self._over_cap:
            self._answer_and_close(ServerBusy("the gateway is at its connection limit"))
            return
        if not self._reading_headers:
            super().data_received(data)
            return
        room = self._limits.max_header_bytes - self._header_bytes
        if len(data) <= room:
            self._header_bytes += len(data)
            super().data_received(data)
            return
        # Feed only up to the bound: if the headers end within it, the rest is body.
        self._header_bytes += room
        super().data_received(data[:room])
        if self._reading_headers and not self.transport.is_closing():
            limit = self._limits.max_header_bytes
            self._answer_and_close(
                HeadersTooLarge(f"request headers are larger than {limit} bytes")
            )
            return
        if not self.transport.is_closing():
            super().data_received(data[room:])

    # -- parser callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._cancel(self._idle_timer)
        self._idle_timer = None
        if not self._reading_headers:
            self._begin_headers()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._cancel(self._header_timer)
        self._header_timer = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        # uvicorn's own keep-alive timer is cancelled by any byte, even the rest of a body
        # the app never read; this one only by the next request's first byte.
        if not pipelined and not self._reading_headers and not self.transport.is_closing():
            self._idle_timer = self.loop.call_later(
                self._limits.keepalive_timeout, self._close_idle
            )

    # -- timers and answers --------------------------------------------------------------

    def _begin_headers(self) -> None:
        self._reading_headers = True
        self._header_bytes = 0
        self._cancel(self._header_timer)
        self._header_timer = self.loop.call_later(
            self._limits.header_timeout, self._headers_timed_out
        )

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._reading_headers:
            return
        if self._header_bytes == 0:
            self.transport.close()  # nothing asked, nothing to answer
            return
        seconds = f"{self._limits.header_timeout:g}"
        self._answer_and_close(RequestTimeout(f"request headers did not arrive within {seconds} s"))

    def _close_idle(self) -> None:
        self._idle_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _answer_and_close(self, error: GatewayError) -> None:
        self._cancel_timers()
        self._reading_headers = False
        self._answered = True
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request before this one is still answering: no answer in between.
            self.transport.close()
            return
        self.transport.write(raw_error_response(error))
        # Answer, half-close and stop reading (the sender stalls on its full window, and costs
        # neither memory nor CPU), then close after a moment.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.transport.pause_reading()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _cancel_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._idle_timer)
        self._header_timer = self._idle_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
