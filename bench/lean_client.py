"""A minimal keep-alive HTTP/1.1 client behind the gateway's `Transport` seam, for
`bench.variants`: the floor of what a provider call can cost, to compare aiohttp against.
Bench-only: plain http to loopback, no redirects, not hardened for the internet.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from bench.loadgen import Connection
from realtime_gateway.gateway.providers.transport import (
    UpstreamAnswer,
    UpstreamTimeout,
    UpstreamUnreachable,
)


class LeanClient:
    """A keep-alive pool per host:port; never follows redirects (it does not know how)."""

    def __init__(self, max_idle: int = 50) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._max_idle = max_idle

    async def _connection(self, host: str, port: int, timeout: float) -> Connection:
        idle = self._idle.get((host, port), [])
        while idle:
            connection = idle.pop()
            if connection.reusable and not connection.transport.is_closing():
                return connection
        loop = asyncio.get_running_loop()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(Connection, host, port), timeout
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
