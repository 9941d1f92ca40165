"""The gateway's provider client for minting: keep-alive HTTP/1.1 over asyncio, parsed by httptools.

The provider call is paid on every mint, and a general-purpose client spent about 250 µs of CPU
on it (docs/performance.md, "The provider client"); this one does only what minting needs.
http:// and https:// (the default verifying TLS context, SNI); never a proxy from the
environment; redirects never followed (a 3xx is an answer like any other); one total timeout per
call covering the wait for a connection, connect, TLS and the exchange; answers by
Content-Length, chunked or read-to-close, capped while they arrive. No HTTP/2, no compression,
no cookies. A pooled connection idle past `keepalive_expiry` is closed, not reused: a server or a
NAT in between may have let it go without a word, and a request sent on it would wait out the
whole timeout.

The provider key travels in a header: no message raised here contains a header value.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from realtime_gateway import __version__
from realtime_gateway.gateway.providers.transport import (
    MAX_ANSWER_BYTES,
    UpstreamAnswer,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from realtime_gateway.reasons import describe

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one answer
DEFAULT_MAX_CONNECTIONS = 200  # per origin
# Below the idle timeouts of common servers and load balancers (nginx 75 s, cloud LBs 60 s).
DEFAULT_KEEPALIVE_EXPIRY = 15.0
DEFAULT_PORTS = {"http": 80, "https": 443}
# Set by the transport itself; a caller's own value would change the framing or the target.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection"}
)
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")

Origin = tuple[str, str, int]  # scheme, host, port


@dataclass(frozen=True)
class _Target:
    origin: Origin
    where: str  # host:port, for messages
    head: bytes  # request line and the headers every call to this URL sends


@functools.lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    # Endpoints come from the allow-list, so the cache stays small; parsing each call is not free.
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise UpstreamUnreachable(f"not an http:// or https:// URL with a host: {parts.scheme}://")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:
        raise UpstreamUnreachable("the URL's port is not a number") from error
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    if any(char in path + authority for char in " \t\r\n\x00"):
        raise UpstreamUnreachable("the URL has white space or control characters")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n"
        f"User-Agent: realtime-gateway/{__version__}\r\nContent-Type: application/json\r\n"
    )
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return _Target((parts.scheme, host, port), where, head.encode("ascii"))


def _request(target: _Target, headers: dict[str, str], body: bytes) -> bytes:
    """The whole request; refuses (before anything is sent) a header that would break the
    framing, naming the header, never its value."""
    lines = [target.head]
    for name, value in headers.items():
        if not TOKEN.fullmatch(name):
            raise UpstreamUnreachable("a header name is not an HTTP token; nothing was sent")
        if name.lower() in RESERVED_HEADERS:
            continue
        if FORBIDDEN_IN_VALUE.search(value):
            raise UpstreamUnreachable(
                f"header {name} has a line break or NUL in its value; nothing was sent"
            )
        try:
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        except UnicodeEncodeError as error:
            raise UpstreamUnreachable(
                f"header {name} has characters HTTP cannot carry; nothing was sent"
            ) from error
    lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
    lines.append(body)
    return b"".join(lines)


class _StaleConnection(Exception):
    """The connection closed before any byte of the answer: the server had let it go."""


class _Stop(Exception):
    """Raised in a parser callback to stop parsing; the reason is on the connection."""


class _Connection(asyncio.Protocol):
    """One connection, at most one request in flight; its parser lives as long as it does."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.reusable = True
        self.lost = False
        self.answered = 0  # whole answers read: a connection with some is a reused one
        self.counted = True  # holds one of the pool's slots until discarded
        self.idle_since = 0.0  # the pool's clock when it was last released
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[UpstreamAnswer] | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._received = 0
        self._headers_done = False
        self._framed = False  # Content-Length or chunked: not read-to-close
        self._error: Exception | None = None

    # asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # the server speaks out of turn: not a connection to keep
            self.close()
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            self._fail(self._error or UpstreamUnreachable(f"malformed answer: {describe(error)}"))
            return
        if not self._headers_done and self._received > MAX_HEAD_BYTES:
            self._fail(UpstreamUnreachable("answer head over the size cap"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            if self._headers_done and not self._framed:  # read-to-close: EOF ends it
                self._complete()
            elif self._received == 0:
                self._answer.set_exception(_StaleConnection())
            else:
                self._answer.set_exception(
                    UpstreamUnreachable("the connection closed before the answer was whole")
                )
        self._answer = None
        self.pool.discard(self)

    # httptools' side
    def on_message_begin(self) -> None:
        if self._answer is None:
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self._framed = True
            if not value.strip().isdigit() or int(value) > MAX_ANSWER_BYTES:
                self._error = UpstreamUnreachable("answer over the size cap")
                raise _Stop
        elif name == b"transfer-encoding":
            self._framed = value.rstrip().lower().endswith(b"chunked")

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_ANSWER_BYTES:
            self._error = UpstreamUnreachable("answer over the size cap")
            raise _Stop
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:  # interim (103 Early Hints): wait on
            self._chunks, self._size, self._headers_done, self._framed = [], 0, False, False
            return
        self.reusable = self.reusable and self._parser.should_keep_alive()
        self._complete()

    # the pool's side
    def closing(self) -> bool:
        return self.lost or self.transport is None or self.transport.is_closing()

    async def exchange(self, request: bytes) -> UpstreamAnswer:
        if self.closing():
            raise _StaleConnection
        assert self.transport is not None
        self._chunks, self._size, self._received = [], 0, 0
        self._headers_done = self._framed = False
        self._error = None
        answer: asyncio.Future[UpstreamAnswer] = asyncio.get_running_loop().create_future()
        self._answer = answer
        self.transport.write(request)
        try:
            return await answer
        finally:
            self._answer = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            self.answered += 1
            answer.set_result(
                UpstreamAnswer(self._parser.get_status_code(), b"".join(self._chunks))
            )
        self._chunks = []

    def _fail(self, error: Exception) -> None:
        self.close()  # not read whole: never reused
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)


class _Pool:
    """Keep-alive connections to one origin: at most `limit` open; callers beyond wait."""

    def __init__(
        self,
        origin: Origin,
        where: str,
        limit: int,
        ssl_context: ssl.SSLContext | None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.origin = origin
        self.where = where
        self.limit = limit
        self.ssl_context = ssl_context
        self.keepalive_expiry = keepalive_expiry
        self.clock = clock
        self.open = 0  # connections open or being opened
        self.idle: list[_Connection] = []
        self.members: set[_Connection] = set()
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    async def acquire(self, fresh: bool) -> _Connection:
        woken = False
        while True:
            if self.closed:
                raise UpstreamUnreachable("the provider client is closed")
            self._drop_expired()
            if not fresh:
                while self.idle:
                    connection = self.idle.pop()  # the most recently used: least likely stale
                    if not connection.closing():
                        return connection
                    self.discard(connection)
            elif self.open >= self.limit and self.idle:
                oldest = self.idle[0]  # make room for the fresh connection
                oldest.close()
                self.discard(oldest)
            if self.open < self.limit:
                return await self._connect()
            waiter = asyncio.get_running_loop().create_future()
            if woken:  # woken, but a newcomer took the connection: keep the place in line
                self.waiters.appendleft(waiter)
            else:
                self.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: pass the turn on
                raise
            woken = True

    async def _connect(self) -> _Connection:
        scheme, host, port = self.origin
        loop = asyncio.get_running_loop()
        # With TLS, server_hostname defaults to the host: SNI, and the name checked.
        tls = self.ssl_context if scheme == "https" else None
        # The slot belongs to this connection from now on, and `discard` gives it back once:
        # a connect cancelled after asyncio made the protocol also runs its connection_lost,
        # and freeing the slot in both places let `open` drift below zero (past the cap).
        connection = _Connection(self)
        self.open += 1
        self.members.add(connection)
        try:
            await loop.create_connection(lambda: connection, host, port, ssl=tls)
        except BaseException as error:
            connection.close()
            self.discard(connection)
            if isinstance(error, OSError):  # refused, reset, DNS, TLS (SSLError is an OSError)
                raise UpstreamUnreachable(
                    f"cannot connect to {self.where}: {describe(error)}"
                ) from error
            raise
        return connection

    def release(self, connection: _Connection) -> None:
        if connection.reusable and not connection.lost:
            connection.idle_since = self.clock()
            self.idle.append(connection)
            self._wake()
        else:
            connection.close()
            self.discard(connection)

    def discard(self, connection: _Connection) -> None:
        if connection.counted:
            connection.counted = False
            self.open -= 1
            self.members.discard(connection)
            if connection in self.idle:
                self.idle.remove(connection)
            self._wake()

    def _drop_expired(self) -> None:
        """Close the connections idle past the expiry (the oldest are first in `idle`)."""
        now = self.clock()
        while self.idle and now - self.idle[0].idle_since > self.keepalive_expiry:
            expired = self.idle[0]
            expired.close()
            self.discard(expired)

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        self.closed = True
        for connection in list(self.members):
            connection.close()
        while self.waiters:  # each wakes, finds the pool closed and gives up
            self._wake()


def _unanswered(pool: _Pool) -> UpstreamUnreachable:
    return UpstreamUnreachable(f"{pool.where} closed the connection without an answer")


class Http1Transport:
    """The `Transport` minting goes through: a keep-alive pool per (scheme, host, port).

    `ssl_context` is a seam for tests (a context that trusts a test certificate); by default
    the system's trust store with host name checking. `clock` (monotonic seconds) is a seam for
    tests of the keep-alive expiry."""

    def __init__(
        self,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_connections = max_connections
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._clock = clock
        self._pools: dict[Origin, _Pool] = {}
        self._closed = False

    def _pool(self, target: _Target) -> _Pool:
        pool = self._pools.get(target.origin)
        if pool is None:
            if target.origin[0] == "https" and self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()  # once: it loads the CA store
            pool = _Pool(
                target.origin,
                target.where,
                self._max_connections,
                self._ssl_context,
                self._keepalive_expiry,
                self._clock,
            )
            self._pools[target.origin] = pool
        return pool

    @property
    def max_connections(self) -> int:
        """The cap on connections per origin (the descriptor reserve counts it)."""
        return self._max_connections

    def connections_open(self) -> int:
        """Connections open or being opened, over every origin (never below zero)."""
        return sum(pool.open for pool in self._pools.values())

    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer:
        if self._closed:
            raise UpstreamUnreachable("the provider client is closed")
        target = _target(url)
        request = _request(target, headers, body)
        pool = self._pool(target)
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(pool, request)
        except TimeoutError as error:
            raise UpstreamTimeout(f"no whole answer within {timeout:g} s") from error

    async def _exchange(self, pool: _Pool, request: bytes) -> UpstreamAnswer:
        connection = await pool.acquire(fresh=False)
        try:
            return await self._exchange_on(pool, connection, request)
        except _StaleConnection:
            if not connection.answered:  # a fresh connection closed unanswered: not stale
                raise _unanswered(pool) from None
        # The server let a kept-alive connection go as the request left: once more, fresh.
        connection = await pool.acquire(fresh=True)
        try:
            return await self._exchange_on(pool, connection, request)
        except _StaleConnection:
            raise _unanswered(pool) from None

    @staticmethod
    async def _exchange_on(pool: _Pool, connection: _Connection, request: bytes) -> UpstreamAnswer:
        try:
            answer = await connection.exchange(request)
        except BaseException:  # stale, timeout, cancellation, a broken answer: never reused
            connection.close()
            pool.discard(connection)
            raise
        pool.release(connection)
        return answer

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks
