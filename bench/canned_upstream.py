"""An upstream that costs next to nothing: `python -m bench.canned_upstream --port P`.

Every HTTP/1.1 request gets the same GA client-secret answer (the shape the stub mints, with
a fixed secret), on keep-alive connections, parsed by httptools. The workers section mints
against it so that the gateway's workers, not the stub, are what the two cores are shared
with: the stub spends about half a gateway's CPU on each mint, and on two cores it would
set the ceiling of any worker count. It answers a request in a few tens of microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httptools
import uvloop

SECRET_TTL = 600

ANSWER_BODY = json.dumps(
    {
        "value": "ek_canned_bench_secret_0000000000000000",
        "expires_at": 4102444800,  # 2100-01-01: never expires within a run
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_canned000000000000000",
            "model": "gpt-realtime",
            "audio": {"output": {"voice": "alloy"}},
        },
    }
).encode()
ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(ANSWER_BODY)}\r\n\r\n".encode()
    + ANSWER_BODY
)


class CannedConnection(asyncio.Protocol):
    """Answers each complete request on the connection with `ANSWER`, in order."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:  # httptools callback
        self.transport.write(ANSWER)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedConnection, host, port, backlog=1024)
    print(f"canned upstream on http://{host}:{port}/", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.canned_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
