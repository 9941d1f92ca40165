"""The seam between provider adapters and the HTTP client that reaches the provider.

`Transport` is what an adapter calls (`post_json`), `UpstreamAnswer` what it gets back, and
`UpstreamTimeout` / `UpstreamUnreachable` the only two failures it has to handle. Minting goes
through `providers/http1.py` (`Http1Transport`, the gateway's own keep-alive HTTP/1.1 client:
the provider call is on the hot path); brokered calls through `call_http.py` (aiohttp: they
post multipart). Tests script a transport of their own. Every implementation follows the same
rules: redirects never followed, one total timeout per call, answers capped at
`MAX_ANSWER_BYTES` while they arrive, no header value in any message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_ANSWER_BYTES = 1024 * 1024


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
