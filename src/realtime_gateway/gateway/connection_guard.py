"""The phase before the app sees a request, bounded: the HTTP protocol `serve` runs.

uvicorn's httptools protocol has no limit of its own on the request line and headers (one
unterminated 256 MiB header line grew the process by hundreds of MB), no timeout while they
arrive, and nothing between it and the descriptor limit. `GuardedHttpToolsProtocol` counts the
bytes before the blank line and answers 431 the moment they pass the bound; closes a request
whose headers are not complete within the header timeout (408) and a connection idle between
requests past the keep-alive timeout; and answers 503 to connections beyond the cap the
moment they open, then lets them go at once (`descriptors.py` keeps the cap under the
descriptor limit, with room for what the process opens itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from realtime_gateway.gateway.descriptors import (
    MAX_REFUSED_LINGERING,
    descriptor_reserve,
    descriptor_safe_cap,
)
from realtime_gateway.gateway.errors import (
    GatewayError,
    HeadersTooLarge,
    RequestTimeout,
    ServerBusy,
    error_json,
)
from realtime_gateway.gateway.settings import Settings

log = logging.getLogger("realtime_gateway.gateway.connections")

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
    def from_settings(cls, settings: Settings, **rlimit_seams: Any) -> ConnectionLimits:
        """The limits `serve` runs with; `rlimit_seams` go to `descriptor_safe_cap`."""
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
            keepalive_timeout=settings.keepalive_timeout,
            max_connections=descriptor_safe_cap(
                settings.max_connections, descriptor_reserve(settings).total, **rlimit_seams
            ),
        )


class GuardedConfig(uvicorn.Config):
    """uvicorn's config, serving with `GuardedHttpToolsProtocol` under `limits`. A plain
    attribute (not a class made on the fly) so the config pickles into worker processes."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedHttpToolsProtocol, **kwargs)
        self.connection_limits = limits
        # Connections refused over the cap, still open for their client to read the 503.
        self.refused_connections: deque[GuardedHttpToolsProtocol] = deque()


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
        refused = getattr(config, "refused_connections", None)
        self._refused: deque[GuardedHttpToolsProtocol] = (
            refused if isinstance(refused, deque) else deque()
        )

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        accepted = len(self.connections) - len(self._refused)
        if accepted > self._limits.max_connections:
            self._refuse_over_cap()
            return
        self._begin_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self._cancel(self._linger_timer)
        self._linger_timer = None
        if self._over_cap:
            try:
                self._refused.remove(self)
            except ValueError:
                pass
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._over_cap:
            # Its request is read (and dropped): closing now sends no reset over unread bytes,
            # so the 503 already sent stays readable.
            self.transport.close()
            return
        if self._answered:
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

    def _refuse_over_cap(self) -> None:
        """Past the cap: 503 at once, before any request, and the write side shut. The
        connection is closed when its client sends (the request is read, so no reset loses the
        answer), closes, or has had `LINGER_SECONDS`; past `MAX_REFUSED_LINGERING` waiting,
        the oldest is closed now. An idle flood so holds a bounded number of descriptors, never
        one per connection for the header timeout."""
        self._over_cap = True
        self._answered = True
        self._reading_headers = False
        self.transport.write(
            raw_error_response(ServerBusy("the gateway is at its connection limit"))
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        self._refused.append(self)
        while len(self._refused) > MAX_REFUSED_LINGERING:
            oldest = self._refused.popleft()
            oldest._over_cap = False  # already out of the list
            oldest.transport.close()

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
