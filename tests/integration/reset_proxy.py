"""A TCP proxy in front of a real server that, once armed, lets one command through to the
server and then either swallows its reply and resets the client's connection (`reset_after`:
the command ran, the client cannot know) or holds the reply back (`delay_after`: the client
times out while the command ran). Runs on the test's own event loop, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class ResetProxy:
    port: int
    upstream_port: int
    marker: bytes = b""  # armed while non-empty: the next request containing it is "lost"
    delay: float = 0.0  # with `marker`: hold that reply back this long instead of resetting
    times: int = 0  # how many more requests carrying `marker` are delayed
    resets: int = 0
    delayed: int = 0
    down: bool = False  # Redis "unreachable": every connection is refused until back up
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def reset_after(self, marker: bytes) -> None:
        """The next request carrying `marker` runs upstream; its reply becomes a reset."""
        self.marker, self.delay = marker, 0.0

    def delay_after(self, marker: bytes, seconds: float, times: int = 1) -> None:
        """The next `times` requests carrying `marker` run upstream; each reply arrives
        `seconds` late."""
        self.marker, self.delay, self.times = marker, seconds, times

    def go_down(self) -> None:
        """Break every connection and refuse new ones, as a Redis that died would."""
        self.down = True
        for writer in list(self._writers):
            writer.transport.abort()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.down:
            client_w.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers |= {client_w, server_w}
        lost = asyncio.Event()
        held: list[float] = []

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if self.marker and self.marker in data:
                    if self.delay:
                        held.append(self.delay)
                        self.times -= 1
                        if self.times <= 0:
                            self.marker = b""
                    else:
                        self.marker = b""
                        lost.set()
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if held:
                    self.delayed += 1
                    await asyncio.sleep(held.pop())
                if lost.is_set():
                    # The server answered, so the command ran; the client hears a reset.
                    self.resets += 1
                    client_w.transport.abort()
                    return
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        with contextlib.suppress(ConnectionError):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (client_w, server_w):
            writer.transport.abort()
            self._writers.discard(writer)


@contextlib.asynccontextmanager
async def reset_proxy(upstream_port: int) -> AsyncIterator[ResetProxy]:
    proxy = ResetProxy(port=0, upstream_port=upstream_port)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for writer in list(proxy._writers):
            writer.transport.abort()
        await asyncio.wait_for(asyncio.gather(*proxy._handlers, return_exceptions=True), 5)
        await server.wait_closed()
