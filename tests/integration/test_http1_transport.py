"""The provider client minting goes through (`Http1Transport`), against raw servers on 127.0.0.1
that answer byte for byte as each test scripts: the three ways an answer ends, the size cap, the
timeout, keep-alive and its stale connections, the connection cap, TLS, and the key kept out of
every message."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest
import uvloop

from realtime_gateway.gateway.providers.http1 import MAX_HEAD_BYTES, Http1Transport
from realtime_gateway.gateway.providers.transport import (
    MAX_ANSWER_BYTES,
    UpstreamAnswer,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from tests.fixtures.raw_http import Exchange, answer_ok, ok, raw_server, self_signed_certificate
from tests.fixtures.servers import free_port

KEY = "sk-http1-test-provider-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}
BODY = b'{"session":{"type":"realtime"}}'


async def post(transport: Http1Transport, url: str, timeout: float = 5.0) -> UpstreamAnswer:
    return await transport.post_json(url, headers=HEADERS, body=BODY, timeout=timeout)


def keyless(error: BaseException) -> str:
    message = str(error)
    assert KEY not in message and "Bearer" not in message
    return message


async def test_content_length_answer_and_the_request_as_sent() -> None:
    transport = Http1Transport()
    async with raw_server() as server:
        first = await post(transport, server.url)
        second = await post(transport, server.url)
        await transport.aclose()
    assert first == second == UpstreamAnswer(200, b'{"value":"ek_1"}')
    assert server.connections == 1  # kept alive
    request = server.requests[0]
    assert request.head.startswith(b"POST /v1/realtime/client_secrets HTTP/1.1\r\n")
    assert request.header("Host") == f"127.0.0.1:{server.port}"
    assert request.header("Authorization") == f"Bearer {KEY}"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Content-Length") == str(len(BODY))
    assert request.header("Accept-Encoding") is None  # identity: nothing to decompress
    assert request.body == BODY


async def test_chunked_answer_is_joined_and_the_connection_kept() -> None:
    async def chunked(exchange: Exchange) -> bool:
        exchange.writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'6\r\n{"valu\r\na\r\ne":"ek_2"}\r\n0\r\n\r\n'
        )
        return True

    transport = Http1Transport()
    async with raw_server(chunked) as server:
        answers = [await post(transport, server.url) for _ in range(2)]
        await transport.aclose()
    assert answers == [UpstreamAnswer(200, b'{"value":"ek_2"}')] * 2
    assert server.connections == 1


async def test_read_to_close_answer_ends_at_eof_and_is_not_reused() -> None:
    async def until_close(exchange: Exchange) -> bool:
        exchange.writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"v":')
        await exchange.writer.drain()
        exchange.writer.write(b"1}")
        return False  # the server closes: that ends the answer

    transport = Http1Transport()
    async with raw_server(until_close) as server:
        answers = [await post(transport, server.url) for _ in range(2)]
        await transport.aclose()
    assert answers == [UpstreamAnswer(200, b'{"v":1}')] * 2
    assert server.connections == 2


async def test_connection_close_answer_is_not_reused_even_if_the_server_keeps_it() -> None:
    async def close_said(exchange: Exchange) -> bool:
        exchange.writer.write(ok(extra=b"Connection: close\r\n"))
        return True  # but keeps reading: the client has to let it go

    transport = Http1Transport()
    async with raw_server(close_said) as server:
        for _ in range(2):
            assert (await post(transport, server.url)).status == 200
        await transport.aclose()
    assert server.connections == 2
    assert [exchange.number for exchange in server.requests] == [1, 1]


async def test_redirect_is_an_answer_not_followed() -> None:
    async with raw_server() as elsewhere:

        async def redirect(exchange: Exchange) -> bool:
            exchange.writer.write(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                % elsewhere.url.encode()
            )
            return True

        transport = Http1Transport()
        async with raw_server(redirect) as server:
            answer = await post(transport, server.url)
            await transport.aclose()
    assert answer == UpstreamAnswer(307, b"")
    assert len(server.requests) == 1
    assert elsewhere.connections == 0  # the key went nowhere else


async def test_interim_answer_is_skipped() -> None:
    async def early_hints(exchange: Exchange) -> bool:
        exchange.writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok())
        return True

    transport = Http1Transport()
    async with raw_server(early_hints) as server:
        answer = await post(transport, server.url)
        await transport.aclose()
    assert answer == UpstreamAnswer(200, b'{"value":"ek_1"}')


async def test_declared_length_over_the_cap_is_refused_before_the_body() -> None:
    async def huge(exchange: Exchange) -> bool:
        exchange.writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{" % (MAX_ANSWER_BYTES + 1)
        )
        await exchange.reader.read()  # holds the answer open until the client hangs up
        return False

    transport = Http1Transport()
    async with raw_server(huge) as server:
        with pytest.raises(UpstreamUnreachable, match="size cap") as caught:
            await post(transport, server.url)
        await transport.aclose()
    keyless(caught.value)


async def test_read_to_close_answer_over_the_cap_is_cut_while_it_arrives() -> None:
    async def endless(exchange: Exchange) -> bool:
        exchange.writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        while not exchange.writer.is_closing():  # never ends by itself
            exchange.writer.write(b"a" * 65536)
            await exchange.writer.drain()
        return False

    transport = Http1Transport()
    async with raw_server(endless) as server:
        with pytest.raises(UpstreamUnreachable, match="size cap"):
            await post(transport, server.url, timeout=30)
        await transport.aclose()


async def test_endless_head_is_cut_at_its_cap() -> None:
    async def endless_head(exchange: Exchange) -> bool:
        exchange.writer.write(b"HTTP/1.1 200 OK\r\n")
        while not exchange.writer.is_closing():
            exchange.writer.write(b"X-Filler: " + b"f" * 1000 + b"\r\n")
            await exchange.writer.drain()
        return False

    transport = Http1Transport()
    async with raw_server(endless_head) as server:
        with pytest.raises(UpstreamUnreachable, match="head over the size cap"):
            await post(transport, server.url, timeout=30)
        await transport.aclose()
    assert MAX_HEAD_BYTES < MAX_ANSWER_BYTES


async def test_timeout_closes_the_connection_and_the_next_call_opens_another() -> None:
    hung_up = asyncio.Event()

    async def silent_first(exchange: Exchange) -> bool:
        if exchange.connection == 1:
            await exchange.reader.read()  # never answers; returns when the client hangs up
            hung_up.set()
            return False
        return await answer_ok(exchange)

    transport = Http1Transport()
    async with raw_server(silent_first) as server:
        with pytest.raises(UpstreamTimeout) as caught:
            await post(transport, server.url, timeout=0.3)
        await asyncio.wait_for(hung_up.wait(), 10)
        assert (await post(transport, server.url)).status == 200
        await transport.aclose()
    assert keyless(caught.value) == "no whole answer within 0.3 s"
    assert server.connections == 2


async def test_refused_port_is_unreachable_and_names_the_address() -> None:
    port = free_port()
    transport = Http1Transport()
    with pytest.raises(UpstreamUnreachable) as caught:
        await post(transport, f"http://127.0.0.1:{port}/v1/realtime/client_secrets")
    await transport.aclose()
    assert keyless(caught.value).startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_stale_kept_alive_connection_is_retried_once_on_a_fresh_one() -> None:
    async def drops_second_request(exchange: Exchange) -> bool:
        if exchange.connection == 1 and exchange.number == 2:
            return False  # closed as the request arrived: the keep-alive race
        return await answer_ok(exchange)

    transport = Http1Transport()
    async with raw_server(drops_second_request) as server:
        assert (await post(transport, server.url)).status == 200
        assert (await post(transport, server.url)).status == 200
        await transport.aclose()
    assert server.connections == 2
    assert [(e.connection, e.number) for e in server.requests] == [(1, 1), (1, 2), (2, 1)]


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_connection_idle_past_the_keepalive_expiry_is_not_reused() -> None:
    # Connection 1 goes half-open after its first answer: the server reads on and never
    # answers (a peer or a NAT that let it go silently). Reused, it would hold the call for
    # its whole timeout; past its idle limit the pool opens a fresh connection instead.
    never = asyncio.Event()

    async def half_open_after_one(exchange: Exchange) -> bool:
        if exchange.connection == 1 and exchange.number > 1:
            await never.wait()
        return await answer_ok(exchange)

    clock = FakeClock()
    transport = Http1Transport(keepalive_expiry=15.0, clock=clock)
    async with raw_server(half_open_after_one) as server:
        assert (await post(transport, server.url, timeout=30)).status == 200
        clock.now += 15.5
        assert (await post(transport, server.url, timeout=30)).status == 200
        never.set()
        await transport.aclose()
    assert [(e.connection, e.number) for e in server.requests] == [(1, 1), (2, 1)]


async def test_a_connection_within_its_idle_limit_is_reused() -> None:
    clock = FakeClock()
    transport = Http1Transport(keepalive_expiry=15.0, clock=clock)
    async with raw_server() as server:
        await post(transport, server.url)
        clock.now += 14.0
        await post(transport, server.url)
        await transport.aclose()
    assert server.connections == 1


async def test_a_cancelled_connect_gives_its_slot_back_exactly_once() -> None:
    # Cancel calls at every point of their first loop turns, connect included: the count of
    # open connections never goes below zero, and the cap still holds afterwards.
    holding = asyncio.Event()
    release = asyncio.Event()

    async def held_once_holding(exchange: Exchange) -> bool:
        if holding.is_set():
            await release.wait()
        return await answer_ok(exchange)

    transport = Http1Transport(max_connections=1)
    async with raw_server(held_once_holding) as server:
        for turns in range(16):
            call = asyncio.ensure_future(post(transport, server.url))
            for _ in range(turns):
                await asyncio.sleep(0)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
            for _ in range(5):
                await asyncio.sleep(0)  # the transports' close callbacks
            assert 0 <= transport.connections_open() <= 1, turns
        holding.set()
        before = len(server.requests)
        calls = [asyncio.ensure_future(post(transport, server.url, timeout=30)) for _ in range(3)]
        while len(server.requests) == before:
            await asyncio.sleep(0.01)
        for _ in range(200):  # turns enough for any call the cap let through to be sent
            await asyncio.sleep(0)
        held = len(server.requests) - before
        release.set()
        answers = await asyncio.gather(*calls)
        await transport.aclose()
    assert [answer.status for answer in answers] == [200] * 3
    assert held == 1, f"{held} calls were sent at once through a cap of 1"


async def test_fresh_connection_closed_unanswered_is_not_retried() -> None:
    async def hangs_up(exchange: Exchange) -> bool:
        return False

    transport = Http1Transport()
    async with raw_server(hangs_up) as server:
        with pytest.raises(UpstreamUnreachable, match="without an answer") as caught:
            await post(transport, server.url)
        await transport.aclose()
    keyless(caught.value)
    assert len(server.requests) == 1


async def test_answer_cut_midway_on_a_reused_connection_is_not_retried() -> None:
    async def cuts_second(exchange: Exchange) -> bool:
        if exchange.number == 2:
            exchange.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            return False
        return await answer_ok(exchange)

    transport = Http1Transport()
    async with raw_server(cuts_second) as server:
        await post(transport, server.url)
        with pytest.raises(UpstreamUnreachable, match="before the answer was whole") as caught:
            await post(transport, server.url)
        await transport.aclose()
    keyless(caught.value)
    assert len(server.requests) == 2


async def test_connection_cap_holds_and_every_call_waiting_for_one_succeeds() -> None:
    cap = 3
    all_in = asyncio.Event()

    async def held_until_the_cap_is_full(exchange: Exchange) -> bool:
        if server.open_now >= cap:
            all_in.set()
        await all_in.wait()
        return await answer_ok(exchange)

    transport = Http1Transport(max_connections=cap)
    async with raw_server(held_until_the_cap_is_full) as server:
        answers = await asyncio.gather(*(post(transport, server.url) for _ in range(cap + 5)))
        await transport.aclose()
    assert [answer.status for answer in answers] == [200] * (cap + 5)
    assert server.most_open == cap
    assert server.connections == cap  # the waiting calls went over the kept-alive ones


async def test_waiting_for_a_connection_is_bounded_by_the_call_timeout() -> None:
    release = asyncio.Event()

    async def held(exchange: Exchange) -> bool:
        await release.wait()
        return await answer_ok(exchange)

    transport = Http1Transport(max_connections=1)
    async with raw_server(held) as server:
        first = asyncio.ensure_future(post(transport, server.url))
        while not server.requests:
            await asyncio.sleep(0.01)
        with pytest.raises(UpstreamTimeout):
            await post(transport, server.url, timeout=0.3)
        release.set()
        assert (await first).status == 200
        assert (await post(transport, server.url)).status == 200  # the slot came back
        await transport.aclose()
    assert server.connections == 1


async def test_closed_transport_refuses_calls() -> None:
    transport = Http1Transport()
    async with raw_server() as server:
        await post(transport, server.url)
        await transport.aclose()
        with pytest.raises(UpstreamUnreachable, match="closed"):
            await post(transport, server.url)
        await asyncio.wait_for(server.closed.wait(), 10)  # its kept-alive connection too
    assert len(server.requests) == 1


async def test_header_value_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    transport = Http1Transport()
    async with raw_server() as server:
        with pytest.raises(UpstreamUnreachable, match="nothing was sent") as caught:
            await transport.post_json(
                server.url,
                headers={"Authorization": f"Bearer {KEY}\r\nX-Injected: 1"},
                body=BODY,
                timeout=5,
            )
        await transport.aclose()
    keyless(caught.value)
    assert server.connections == 0


async def test_proxy_from_the_environment_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with raw_server() as proxy, raw_server() as server:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        transport = Http1Transport()
        assert (await post(transport, server.url)).status == 200
        await transport.aclose()
    assert (proxy.connections, server.connections) == (0, 1)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path)


def server_context(certificate: tuple[Path, Path], names: list[str | None]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)

    def record(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = record  # type: ignore[assignment]
    return context


async def test_tls_with_a_trusted_certificate_sends_sni_and_keeps_alive(
    certificate: tuple[Path, Path],
) -> None:
    names: list[str | None] = []
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    transport = Http1Transport(ssl_context=trusting)
    async with raw_server(
        ssl_context=server_context(certificate, names), host="localhost"
    ) as server:
        answers = [await post(transport, server.url) for _ in range(2)]
        await transport.aclose()
    assert answers == [UpstreamAnswer(200, b'{"value":"ek_1"}')] * 2
    assert names == ["localhost"]  # one handshake, with the host's name
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


async def test_tls_with_an_untrusted_certificate_is_unreachable(
    certificate: tuple[Path, Path],
) -> None:
    transport = Http1Transport()  # the default context: the system's trust store
    async with raw_server(ssl_context=server_context(certificate, [])) as server:
        with pytest.raises(UpstreamUnreachable, match="certificate verify failed") as caught:
            await post(transport, server.url)
        await transport.aclose()
    keyless(caught.value)
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert server.requests == []


async def test_timeout_covers_a_tls_handshake_that_never_completes() -> None:
    async def mute(exchange: Exchange) -> bool:
        return True

    transport = Http1Transport()
    async with raw_server(mute) as server:  # accepts TCP, never speaks TLS
        url = server.url.replace("http://", "https://")
        with pytest.raises(UpstreamTimeout):
            await post(transport, url, timeout=0.3)
        await asyncio.wait_for(server.closed.wait(), 10)  # and the connection was let go
        await transport.aclose()
    assert server.requests == []


def test_keep_alive_timeout_and_tls_on_uvloop(certificate: tuple[Path, Path]) -> None:
    """uvicorn runs the gateway on uvloop, whose transports are not asyncio's."""

    async def scenario() -> tuple[list[int], int, int]:
        async def silent_first(exchange: Exchange) -> bool:
            if exchange.connection == 1 and exchange.number == 3:
                await exchange.reader.read()
                return False
            return await answer_ok(exchange)

        trusting = ssl.create_default_context(cafile=str(certificate[0]))
        transport = Http1Transport(ssl_context=trusting)
        context = server_context(certificate, [])
        async with raw_server(silent_first, ssl_context=context) as server:
            statuses = [(await post(transport, server.url)).status for _ in range(2)]
            with pytest.raises(UpstreamTimeout):
                await post(transport, server.url, timeout=0.3)
            statuses.append((await post(transport, server.url)).status)
            await transport.aclose()
        return statuses, server.connections, len(server.requests)

    assert uvloop.run(scenario()) == ([200, 200, 200], 2, 4)
