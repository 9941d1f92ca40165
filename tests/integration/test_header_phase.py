"""The phase before the app, against a real `realtime-gateway serve`:
unterminated multi-megabyte headers and a slow header drip cost no memory and are closed, a
real session request is served meanwhile; idle and half-sent connections are closed on time;
connections past the cap get the documented 503. Waits are bounded; nothing asserts a time."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import GatewayProcess, gateway_process
from tests.fixtures.stub import RunningStub

TENANT_KEY = "rtg_header_phase_acme_6d2f8b0c4e"
HEADER_TIMEOUT = "1.5"
KEEPALIVE_TIMEOUT = "1"
BIG_HEADER_BYTES = 32 * 1024 * 1024
RSS_BOUND_KIB = 20 * 1024
CLOSE_WAIT = 20.0  # bounds the test, far above the timeouts: "closed", not "how fast"
IDLE_WAIT = 10.0  # ten keep-alive timeouts (uvicorn's own default kept a connection 15 s)


@dataclass
class Attack:
    """What a client saw: whether the gateway closed the connection, and what it answered."""

    closed: bool = False
    answer: bytes = b""
    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def drain_until_closed(sock: socket.socket, attack: Attack, wait: float) -> None:
    """Read what the gateway answers until it closes (EOF or reset), for at most `wait`."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.1)
        if not readable:
            continue
        try:
            chunk = sock.recv(65536)
        except OSError:  # reset: closed with our unread bytes in its buffer
            attack.closed = True
            return
        if not chunk:
            attack.closed = True
            return
        attack.answer += chunk


def unterminated_header(port: int, attack: Attack) -> None:
    """One header line of many megabytes, never ended. Sent without blocking and read as it
    goes, so the gateway's answer is read whenever it comes, however full the send window."""
    try:
        with connect(port) as sock:
            sock.sendall(b"POST /realtime_session HTTP/1.1\r\nHost: gw\r\nX-Big: ")
            sock.setblocking(False)
            chunk = b"a" * 65536
            deadline = time.monotonic() + CLOSE_WAIT
            while not attack.closed and time.monotonic() < deadline:
                sending = [sock] if attack.sent < BIG_HEADER_BYTES and not attack.answer else []
                readable, writable, _ = select.select([sock], sending, [], 0.1)
                if readable:
                    try:
                        received = sock.recv(65536)
                    except OSError:  # reset: closed with our unread bytes in its buffer
                        attack.closed = True
                        break
                    if not received:
                        attack.closed = True
                        break
                    attack.answer += received
                if writable:
                    try:
                        attack.sent += sock.send(chunk)
                    except BlockingIOError:
                        pass
                    except OSError:  # the gateway closed while we were still sending
                        attack.closed = True
    finally:
        attack.done.set()


def header_drip(port: int, attack: Attack) -> None:
    """A request line, then one header byte every 0.1 s, until the gateway hangs up."""
    try:
        with connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Drip: ")
            deadline = time.monotonic() + CLOSE_WAIT
            while time.monotonic() < deadline:
                try:
                    sock.sendall(b"a")
                except OSError:
                    attack.closed = True
                    return
                attack.sent += 1
                drain_until_closed(sock, attack, 0.1)
                if attack.closed:
                    return
    finally:
        attack.done.set()


@contextlib.contextmanager
def running(target: Callable[[int, Attack], None], port: int, attack: Attack) -> Iterator[Attack]:
    thread = threading.Thread(target=target, args=(port, attack), daemon=True)
    thread.start()
    try:
        yield attack
    finally:
        thread.join(CLOSE_WAIT + 10)


def mint(gateway: GatewayProcess) -> httpx.Response:
    return httpx.post(
        gateway.base_url + "/realtime_session",
        json={"model": "gpt-realtime", "voice": "verse"},
        headers={"Authorization": f"Bearer {TENANT_KEY}"},
        timeout=30,
    )


@pytest.fixture
def gateway(tmp_path: Path, stub: RunningStub) -> Iterator[GatewayProcess]:
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY=stub.api_key,
        GATEWAY_API_KEYS=f"acme:{TENANT_KEY}",
        GATEWAY_PROVIDER_ENDPOINT=stub.ga_endpoint,
        GATEWAY_ALLOWED_ENDPOINTS=stub.ga_endpoint,
        GATEWAY_RATE_LIMIT="1000/minute",
        GATEWAY_HEADER_TIMEOUT=HEADER_TIMEOUT,
        GATEWAY_KEEPALIVE_TIMEOUT=KEEPALIVE_TIMEOUT,
    ) as running_gateway:
        yield running_gateway


def test_header_attacks_cost_no_memory_are_closed_and_sessions_are_served(
    gateway: GatewayProcess,
) -> None:
    assert mint(gateway).status_code == 200  # warm: the first mint allocates its pools
    idle_kib = gateway.rss_kib()
    peak_kib = idle_kib
    big = [Attack(), Attack()]
    drip = Attack()
    with (
        running(unterminated_header, gateway.port, big[0]),
        running(unterminated_header, gateway.port, big[1]),
        running(header_drip, gateway.port, drip),
    ):
        # A real session while both kinds of attack are on.
        minted = mint(gateway)
        assert minted.status_code == 200, minted.text
        assert minted.json()["session"]["client_secret"]["value"]
        while not all(attack.done.is_set() for attack in (*big, drip)):
            peak_kib = max(peak_kib, gateway.rss_kib())
            time.sleep(0.05)
    peak_kib = max(peak_kib, gateway.rss_kib())
    for attack in big:
        assert attack.closed, "an unterminated header kept its connection"
        assert attack.sent < BIG_HEADER_BYTES, "the gateway read the whole unterminated header"
        assert attack.answer.startswith(b"HTTP/1.1 431 "), attack.answer[:200]
    assert drip.closed, "a header drip kept its connection past the header timeout"
    assert drip.answer.startswith(b"HTTP/1.1 408 "), drip.answer[:200]
    body = json.loads(drip.answer.partition(b"\r\n\r\n")[2])
    assert body["error_code"] == "request_timeout"
    growth = peak_kib - idle_kib
    print(f"gateway RSS idle {idle_kib} KiB, peak under header attack {peak_kib} KiB")
    assert growth < RSS_BOUND_KIB, f"RSS grew {growth} KiB under the header attack"
    assert mint(gateway).status_code == 200


def test_oversized_headers_get_431_with_the_documented_body(gateway: GatewayProcess) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        attack = Attack()
        drain_until_closed(sock, attack, CLOSE_WAIT)
    assert attack.closed
    head, _, body = attack.answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert json.loads(body)["error_code"] == "headers_too_large"


def test_idle_keep_alive_connection_is_closed(gateway: GatewayProcess) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        attack = Attack()
        drain_until_closed(sock, attack, IDLE_WAIT)
    assert attack.answer.startswith(b"HTTP/1.1 200 ")
    assert attack.closed, "an idle keep-alive connection stayed open"


def test_body_drip_after_the_answer_does_not_hold_the_connection(
    gateway: GatewayProcess,
) -> None:
    # The app answers without reading the body; each body byte used to re-cancel the
    # keep-alive timer, so a drip held the connection for ever.
    with connect(gateway.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n")
        attack = Attack()
        deadline = time.monotonic() + CLOSE_WAIT
        while not attack.closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"b")
            except OSError:
                attack.closed = True
                break
            drain_until_closed(sock, attack, 0.1)
    assert attack.answer.startswith(b"HTTP/1.1 200 ")
    assert attack.closed, "a body drip after the answer kept the connection"


def test_connections_past_the_cap_get_503_server_busy(tmp_path: Path) -> None:
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY="sk-unused",
        GATEWAY_API_KEYS=f"acme:{TENANT_KEY}",
        GATEWAY_PROVIDER_ENDPOINT="http://127.0.0.1:9/v1/realtime/client_secrets",
        GATEWAY_ALLOWED_ENDPOINTS="http://127.0.0.1:9/v1/realtime/client_secrets",
        GATEWAY_MAX_CONNECTIONS="4",
        GATEWAY_HEADER_TIMEOUT="60",
        GATEWAY_KEEPALIVE_TIMEOUT="60",
    ) as gateway:
        held = [connect(gateway.port) for _ in range(4)]
        try:
            for sock in held:  # each is accepted and counted before the next is refused
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            with connect(gateway.port) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
                attack = Attack()
                drain_until_closed(extra, attack, CLOSE_WAIT)
            head, _, body = attack.answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 "), attack.answer[:200]
            assert json.loads(body) == {
                "error_code": "server_busy",
                "message": "the gateway is at its connection limit",
            }
        finally:
            for sock in held:
                sock.close()
        # Slots come back as connections close.
        deadline = time.monotonic() + CLOSE_WAIT
        status = 0
        while status != 200 and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(gateway.base_url + "/healthz", timeout=2).status_code
            time.sleep(0.05)
        assert status == 200


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """`count` whole answers (Content-Length bodies) from a keep-alive connection."""
    buffer = b""
    answers: list[bytes] = []
    deadline = time.monotonic() + CLOSE_WAIT
    while len(answers) < count and time.monotonic() < deadline:
        head, sep, rest = buffer.partition(b"\r\n\r\n")
        if sep:
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if len(rest) >= length:
                answers.append(head + sep + rest[:length])
                buffer = rest[length:]
                continue
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
    return answers


def test_a_body_in_the_same_read_as_the_headers_is_not_counted_as_headers(
    gateway: GatewayProcess,
) -> None:
    # Headers and a body larger than the header bound, in one write: only the bytes before
    # the blank line count toward GATEWAY_MAX_HEADER_BYTES.
    body = json.dumps({"model": "gpt-realtime", "voice": "verse", "pad": "x" * 16_250}).encode()
    head = (
        "POST /realtime_session HTTP/1.1\r\nHost: gw\r\n"
        f"Authorization: Bearer {TENANT_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(gateway.port) as sock:
        sock.sendall(head + body)
        (answer,) = read_answers(sock, 1)
    assert len(head + body) > 16 * 1024
    # Through the header phase to the app, which refuses the unknown field: not a 431.
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error_code"] == "invalid_request"


def test_pipelined_and_keep_alive_requests_are_all_answered(gateway: GatewayProcess) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"
    with connect(gateway.port) as sock:
        sock.sendall(request * 3)  # pipelined in one write
        answers = read_answers(sock, 3)
        for _ in range(3):  # then one at a time on the same connection
            sock.sendall(request)
            answers += read_answers(sock, 1)
    assert len(answers) == 6
    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers), answers


def test_oversized_headers_pipelined_behind_a_slow_request_close_without_garbling(
    gateway: GatewayProcess, stub: RunningStub
) -> None:
    # While an earlier request on the connection is still being answered, the guard closes
    # rather than write its 431 in the middle; the gateway keeps serving others.
    stub.state.set_fault(delay=1.0)
    body = json.dumps({"model": "gpt-realtime", "voice": "verse"}).encode()
    slow = (
        "POST /realtime_session HTTP/1.1\r\nHost: gw\r\n"
        f"Authorization: Bearer {TENANT_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with connect(gateway.port) as sock:
        sock.sendall(slow + b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"a" * 20_000)
        attack = Attack()
        drain_until_closed(sock, attack, CLOSE_WAIT)
    assert attack.closed
    assert b"HTTP/1.1 431" not in attack.answer, attack.answer[:300]
    stub.state.clear_faults()
    assert mint(gateway).status_code == 200
    assert "Traceback" not in gateway.output()
