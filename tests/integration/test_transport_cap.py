"""The provider transport stops reading at the 1 MiB cap even when the answer has no
Content-Length (chunked), instead of buffering it whole."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from realtime_gateway.gateway.providers.http1 import Http1Transport
from realtime_gateway.gateway.providers.transport import MAX_ANSWER_BYTES, UpstreamUnreachable

CHUNK = 64 * 1024


@contextlib.contextmanager
def endless_chunked_provider() -> Iterator[str]:
    """Answers 200 chunked, sends a little more than the cap, then keeps the answer open
    without its last chunk until the client goes away."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(0.1)
                with contextlib.suppress(TimeoutError):
                    conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                for _ in range(MAX_ANSWER_BYTES // CHUNK + 2):
                    conn.sendall(f"{CHUNK:x}\r\n".encode() + b"a" * CHUNK + b"\r\n")
                while not stop.is_set():  # hold the answer open: no terminating chunk
                    with contextlib.suppress(TimeoutError):
                        if conn.recv(65536) == b"":
                            break

    thread = threading.Thread(target=serve, name="chunked-provider", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1/realtime/client_secrets"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


async def test_chunked_answer_is_cut_at_the_cap_not_read_whole() -> None:
    transport = Http1Transport()
    try:
        with endless_chunked_provider() as url:
            # Read whole, this answer never ends and the call would only stop at its timeout.
            with pytest.raises(UpstreamUnreachable, match="size cap"):
                await transport.post_json(url, headers={}, body=b"{}", timeout=8.0)
    finally:
        await transport.aclose()
