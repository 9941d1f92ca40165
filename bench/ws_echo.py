"""A Realtime WebSocket that echoes: `python -m bench.ws_echo --port P`.

Each connection gets a `session.created` and then every text frame back as it came. The ws
section measures a frame's round trip through it directly and through the gateway: the
difference is what the relay adds (one hop each way), free of any provider's pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json

import uvloop
from websockets.asyncio.server import ServerConnection, serve

_IDS = itertools.count(1)


async def echo(connection: ServerConnection) -> None:
    session = {"type": "realtime", "id": f"sess_echo{next(_IDS):016d}", "model": "gpt-realtime"}
    await connection.send(json.dumps({"type": "session.created", "session": session}))
    async for message in connection:
        await connection.send(message)


async def main(host: str, port: int) -> None:
    async with serve(echo, host, port, compression=None, max_size=None, ping_interval=None):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.ws_echo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port))
