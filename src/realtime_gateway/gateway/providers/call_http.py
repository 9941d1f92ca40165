"""The HTTP client brokered calls reach the provider with: like the minting transport (no
redirects, no proxy from the environment, a total timeout, a size cap), but any body type and
the answer's `Location` header, which names the provider's call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from realtime_gateway.gateway.providers.transport import (
    MAX_ANSWER_BYTES,
    UpstreamTimeout,
    UpstreamUnreachable,
)


@dataclass(frozen=True)
class UpstreamReply:
    status: int
    body: bytes
    location: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class CallTransport(Protocol):
    async def post(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamReply: ...

    async def aclose(self) -> None: ...


class AiohttpCallTransport:
    def __init__(self, max_connections: int = 100) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300),
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def post(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamReply:
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                declared = response.content_length
                if declared is not None and declared > MAX_ANSWER_BYTES:
                    raise UpstreamUnreachable("answer over the size cap")
                # Read as it arrives, so a chunked answer is refused at the cap, not after it.
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise UpstreamUnreachable("answer over the size cap")
                    chunks.append(chunk)
                body = b"".join(chunks)
                return UpstreamReply(response.status, body, response.headers.get("Location"))
        except TimeoutError as error:
            raise UpstreamTimeout from error
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as error:
            raise UpstreamUnreachable(type(error).__name__) from error

    async def aclose(self) -> None:
        await self._session.close()
