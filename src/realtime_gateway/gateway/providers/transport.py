"""The one pooled HTTP client the gateway calls providers with, behind a small seam.

aiohttp, because the provider call is the gateway's hot path: measured in `bench/`, an httpx
POST cost 0.6-1.5 ms of CPU against aiohttp's ~0.2 ms. Redirects are never followed, every
call has a total timeout, and answers are read up to a size cap (counted while they arrive
when they carry no Content-Length).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import yarl

from realtime_gateway.reasons import describe

MAX_ANSWER_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class UpstreamAnswer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class UpstreamTimeout(Exception):
    """No whole answer within the timeout."""


class UpstreamUnreachable(Exception):
    """The connection failed: refused, reset, TLS, DNS, or an answer over the size cap."""


class Transport(Protocol):
    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer: ...

    async def aclose(self) -> None: ...


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> yarl.URL:
    # Endpoints come from the allow-list, so the cache stays small; parsing each call is not free.
    return yarl.URL(url)


@functools.lru_cache(maxsize=16)
def _total_timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


async def _read_capped(content: aiohttp.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.read(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise UpstreamUnreachable("answer over the size cap")
        chunks.append(chunk)
    return b"".join(chunks)


class AiohttpTransport:
    """Keep-alive connection pool shared by every request of the process."""

    def __init__(self, max_connections: int = 200) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300),
            trust_env=False,  # no proxy from the environment: the key goes where we say
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer:
        try:
            async with self._session.post(
                _parsed(url),
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                allow_redirects=False,
                timeout=_total_timeout(timeout),
            ) as response:
                declared = response.content_length
                if declared is not None and declared > MAX_ANSWER_BYTES:
                    raise UpstreamUnreachable("answer over the size cap")
                if declared is None:
                    # Chunked or read-to-close: count while reading, stop at the cap.
                    payload = await _read_capped(response.content)
                else:
                    payload = await response.read()  # bounded by the length checked above
                return UpstreamAnswer(response.status, payload)
        except TimeoutError as error:
            raise UpstreamTimeout(f"no whole answer within {timeout:g} s") from error
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as error:
            # aiohttp's messages name the host at most, never a header: the key stays out.
            raise UpstreamUnreachable(describe(error)) from error

    async def aclose(self) -> None:
        await self._session.close()
