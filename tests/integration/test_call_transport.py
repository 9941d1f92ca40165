"""The HTTP client brokered calls reach the provider with, against a raw server on 127.0.0.1:
an answer is refused the moment it passes the size cap, however it is framed (a chunked answer
that never ends is not read to the timeout first)."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.providers.call_http import AiohttpCallTransport
from realtime_gateway.gateway.providers.transport import MAX_ANSWER_BYTES, UpstreamUnreachable
from tests.fixtures.raw_http import Exchange, raw_server


async def endless_chunks(exchange: Exchange) -> bool:
    """201, chunked, 64 KiB chunks past the cap, and then never the last chunk."""
    writer = exchange.writer
    writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 65536
    for _ in range(MAX_ANSWER_BYTES // len(chunk) + 4):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
    await exchange.reader.read()  # stall until the client gives up: the answer never ends
    return False


async def test_a_chunked_answer_over_the_cap_is_refused_at_the_cap() -> None:
    transport = AiohttpCallTransport()
    try:
        async with raw_server(endless_chunks, path="/v1/realtime/calls") as server:
            with pytest.raises(UpstreamUnreachable, match="size cap"):
                await transport.post(server.url, headers={}, body=b"x", timeout=60)
    finally:
        await transport.aclose()
