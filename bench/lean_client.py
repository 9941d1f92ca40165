"""A minimal keep-alive HTTP/1.1 client behind the gateway's `Transport` seam, for
`bench.variants`: the floor of what a provider call can cost, to compare aiohttp against.
Bench-only: plain http to loopback, no redirects, not hardened for the internet.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from realtime_gateway.providers.transport import (
    UpstreamAnswer,
    UpstreamTimeout,
    UpstreamUnreachable,
)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one exchange at a time, Content-Length bodies."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.reusable = True
        self._buffer = bytearray()
        self._need = -1
        self._status = 0
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            marker = head.find(b"\r\ncontent-length:")
            if marker < 0:
                self._fail(ConnectionError("response without Content-Length"))
                return
            line_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : line_end if line_end > 0 else len(head)])
            if b"\r\nconnection: close" in head:
                self.reusable = False
            self._body_from = end + 4
            self._need = end + 4 + length
        if len(self._buffer) >= self._need:
            body = bytes(self._buffer[self._body_from : self._need])
            del self._buffer[: self._need]
            self._need = -1
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self._status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(exc or ConnectionError("connection closed by the server"))

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def exchange(self, payload: bytes) -> tuple[int, bytes]:
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self._waiter


class LeanClient:
    """A keep-alive pool per host:port; never follows redirects (it does not know how)."""

    def __init__(self, max_idle: int = 50) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._max_idle = max_idle

    async def _connection(self, host: str, port: int, timeout: float) -> _Connection:
        idle = self._idle.get((host, port), [])
        while idle:
            connection = idle.pop()
            if connection.reusable and not connection.transport.is_closing():
                return connection
        loop = asyncio.get_running_loop()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(_Connection, host, port), timeout
        )
        protocol.transport = transport
        return protocol

    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UpstreamUnreachable(f"the lean client speaks http:// only, not {url!r}")
        host, port = parts.hostname, parts.port or 80
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        payload = "\r\n".join(lines).encode() + body
        try:
            connection = await self._connection(host, port, timeout)
        except TimeoutError as error:
            raise UpstreamTimeout from error
        except OSError as error:
            raise UpstreamUnreachable(type(error).__name__) from error
        try:
            status, content = await asyncio.wait_for(connection.exchange(payload), timeout)
        except TimeoutError as error:
            connection.transport.close()
            raise UpstreamTimeout from error
        except (OSError, ValueError) as error:
            connection.transport.close()
            raise UpstreamUnreachable(type(error).__name__) from error
        idle = self._idle.setdefault((host, port), [])
        if connection.reusable and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.transport.close()
        return UpstreamAnswer(status, content)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.transport.close()
        self._idle.clear()
