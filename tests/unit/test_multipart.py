"""The flat multipart parser (`gateway/multipart.py`): the forms the official SDK and browsers
send, every bound, RFC 2046's boundary and framing rules, and the hostile bodies, each
refused with a short reason that never quotes the body."""

from __future__ import annotations

import httpx
import pytest

from realtime_gateway.gateway.calls.offer import parse_offer
from realtime_gateway.gateway.errors import InvalidRequest
from realtime_gateway.gateway.multipart import (
    MAX_PART_HEADER_BYTES,
    MAX_PART_HEADERS,
    MAX_PARTS,
    Part,
    boundary_of,
    parse_form,
)

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
SESSION = '{"type": "realtime", "model": "gpt-realtime"}'
SECRET_MARK = "zq-never-echoed-zq"


def form(
    parts: list[tuple[str, str]], boundary: str = "b0undary", newline: str = "\r\n"
) -> tuple[str, bytes]:
    body = "".join(
        f'--{boundary}{newline}Content-Disposition: form-data; name="{name}"{newline}'
        f"Content-Type: text/plain{newline}{newline}{content}{newline}"
        for name, content in parts
    )
    return f"multipart/form-data; boundary={boundary}", (body + f"--{boundary}--{newline}").encode()


def refused(content_type: str, body: bytes, **bounds: int) -> str:
    with pytest.raises(InvalidRequest) as raised:
        parse_form(content_type, body, **bounds)
    message = raised.value.message
    assert SECRET_MARK not in message and len(message) < 200
    return message


def test_the_openai_sdks_form_as_httpx_encodes_it() -> None:
    # The openai package posts `sdp` and `session` as httpx file fields without file names.
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/v1/realtime/calls",
        files=[
            ("sdp", (None, SDP.encode(), "application/sdp")),
            ("session", (None, SESSION.encode(), "application/json")),
        ],
    )
    parts = parse_form(request.headers["content-type"], request.read())
    assert parts == [
        Part("sdp", "application/sdp", SDP.encode()),
        Part("session", "application/json", SESSION.encode()),
    ]
    assert parse_offer(request.headers["content-type"], request.read()) == SDP


def test_a_browsers_form_data_with_a_blob_file_name() -> None:
    boundary = "----WebKitFormBoundaryq7YzT3xv2sK8LmNa"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="sdp"; filename="blob"\r\n'
        "Content-Type: application/sdp\r\n\r\n"
        f"{SDP}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="session"\r\n\r\n'
        f"{SESSION}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    parts = parse_form(f"multipart/form-data; boundary={boundary}", body)
    assert [(p.name, p.content_type) for p in parts] == [
        ("sdp", "application/sdp"),
        ("session", None),
    ]
    assert parts[0].data == SDP.encode() and parts[1].data == SESSION.encode()


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_crlf_and_bare_lf_framing(newline: str) -> None:
    content_type, body = form([("a", "one"), ("b", "")], newline=newline)
    assert [(p.name, p.data) for p in parse_form(content_type, body)] == [
        ("a", b"one"),
        ("b", b""),
    ]


def test_preamble_epilogue_and_transport_padding_are_skipped() -> None:
    content_type, body = form([("sdp", "x")])
    padded = body.replace(b"--b0undary\r\n", b"--b0undary \t\r\n", 1)
    framed = b"a preamble, ignored\r\n" + padded + b"an epilogue, ignored\r\n--b0undary\r\n"
    assert parse_form(content_type, framed) == [Part("sdp", "text/plain", b"x")]


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/form-data; boundary="with:colon and space"',
        'Multipart/Form-Data; charset=utf-8; BOUNDARY="with:colon and space"',
    ],
)
def test_quoted_boundaries_may_hold_any_rfc_2046_character(content_type: str) -> None:
    assert boundary_of(content_type) == b"with:colon and space"
    body = b"--with:colon and space\r\nContent-Disposition: form-data; name=sdp\r\n\r\nx\r\n"
    body += b"--with:colon and space--\r\n"
    assert parse_form(content_type, body) == [Part("sdp", None, b"x")]


def test_content_may_hold_the_boundary_text_when_not_at_a_line_start() -> None:
    content_type, body = form([("sdp", "a--b0undary b")])
    assert parse_form(content_type, body)[0].data == b"a--b0undary b"


@pytest.mark.parametrize(
    ("content_type", "why"),
    [
        ("application/sdp", "not multipart/form-data"),
        ("multipart/mixed; boundary=x", "not multipart/form-data"),
        ("multipart/form-data", "names no boundary"),
        ("multipart/form-data; boundary=", "malformed"),
        ('multipart/form-data; boundary=""', "1 to 70"),
        ("multipart/form-data; boundary=" + "a" * 71, "1 to 70"),
        ('multipart/form-data; boundary="ends in space "', "1 to 70"),
        ('multipart/form-data; boundary="semi;colon"', "1 to 70"),
        ("multipart/form-data; boundary=a; boundary=b", "repeats a parameter"),
        ('multipart/form-data; boundary="unclosed', "not closed"),
        ("multipart/form-data; boundary=(comment)", "malformed"),
    ],
)
def test_boundaries_rfc_2046_refuses(content_type: str, why: str) -> None:
    assert why in refused(content_type, b"--x\r\n")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "no boundary line"),
        (b"no delimiter here", "no boundary line"),
        (b"--b0undary--\r\n", "no parts"),
        (b"--b0undaryX\r\n", "other characters after the boundary"),
        (b"--b0undary\r\nContent-Disposition: form-data; name=a\r\n\r\nx", "closing boundary"),
        (b"--b0undary\r\n\r\nx\r\n--b0undary--", "no Content-Disposition"),
        (b"--b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0undary--", "no Content-Disp"),
        (b"--b0undary\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--b0undary--", "form"),
        (b"--b0undary\r\nContent-Disposition: form-data\r\n\r\n\r\n--b0undary--", "with a name"),
        (b"--b0undary\r\nContent-Disposition: form-data; name=a\r\n x\r\n\r\n--b0undary--", "fold"),
        (b"--b0undary\r\nNo colon\r\n\r\n\r\n--b0undary--", "malformed"),
        (
            b"--b0undary\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: "
            b"base64\r\n\r\neA==\r\n--b0undary--",
            "Content-Transfer-Encoding",
        ),
        (
            b"--b0undary\r\nContent-Disposition: form-data; name=a\r\n"
            b"Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\n--in--\r\n--b0undary--",
            "nesting",
        ),
        (
            b"--b0undary\r\nContent-Disposition: form-data; name=a\r\n"
            b"Content-Disposition: form-data; name=b\r\n\r\n\r\n--b0undary--",
            "two Content-Disposition",
        ),
        (
            b"--b0undary\r\nContent-Disposition: form-data; name=a\x00\r\n\r\n\r\n--b0undary--",
            "control characters",
        ),
        (
            b"--b0undary\r\nContent-Disposition: form-data; name=\xff\r\n\r\n\r\n--b0undary--",
            "UTF-8",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, why: str) -> None:
    assert why in refused("multipart/form-data; boundary=b0undary", body)


def test_at_most_max_parts_parts() -> None:
    content_type, body = form([(f"f{i}", "") for i in range(MAX_PARTS)])
    assert len(parse_form(content_type, body)) == MAX_PARTS
    content_type, body = form([(f"f{i}", "") for i in range(MAX_PARTS + 1)])
    assert f"more than {MAX_PARTS} parts" in refused(content_type, body)
    assert "more than 2 parts" in refused(content_type, body, max_parts=2)


def test_part_headers_are_bounded_in_lines_and_bytes() -> None:
    extra = "".join(f"X-H{i}: v\r\n" for i in range(MAX_PART_HEADERS - 1))
    head = f'--b\r\nContent-Disposition: form-data; name="a"\r\n{extra}'
    fits = (head + "\r\nx\r\n--b--\r\n").encode()
    assert parse_form("multipart/form-data; boundary=b", fits)[0].data == b"x"
    too_many = (head + "X-Last: v\r\n\r\nx\r\n--b--\r\n").encode()
    assert "header lines" in refused("multipart/form-data; boundary=b", too_many)
    long_value = "v" * MAX_PART_HEADER_BYTES
    too_long = f'--b\r\nContent-Disposition: form-data; name="{long_value}"\r\n\r\nx\r\n--b--'
    why = refused("multipart/form-data; boundary=b", too_long.encode())
    assert f"longer than {MAX_PART_HEADER_BYTES} bytes" in why


def test_the_total_size_is_capped() -> None:
    content_type, body = form([("sdp", "x" * 1000)])
    assert "larger than 512 bytes" in refused(content_type, body, max_bytes=512)


def test_names_come_from_content_disposition_only() -> None:
    body = (
        b'--b\r\nContent-Type: text/plain; name="sdp"\r\n'
        b'Content-Disposition: form-data; name="session"; filename="sdp"\r\n\r\nx\r\n--b--\r\n'
    )
    assert [p.name for p in parse_form("multipart/form-data; boundary=b", body)] == ["session"]


# -- hostile bodies ---------------------------------------------------------------------------


def nested_parts(depth: int) -> tuple[str, bytes]:
    """`depth` multiparts, each the only part of the one around it."""
    inner = b"v=0\r\n"
    for level in range(depth, 0, -1):
        inner = (
            f"--n{level}\r\nContent-Disposition: form-data; name=sdp\r\n".encode()
            + f"Content-Type: multipart/form-data; boundary=n{level + 1}\r\n\r\n".encode()
            + inner
            + f"\r\n--n{level}--\r\n".encode()
        )
    return "multipart/form-data; boundary=n1", inner


def test_1500_nested_parts_are_refused_as_nesting() -> None:
    content_type, body = nested_parts(1500)
    assert "nesting is not accepted" in refused(content_type, body, max_bytes=len(body))


def test_20000_open_parens_in_a_part_header_are_refused() -> None:
    body = b"--b\r\nContent-Disposition: form-data; name=sdp; x=" + b"(" * 20_000 + b"\r\n\r\n"
    body += SECRET_MARK.encode() + b"\r\n--b--\r\n"
    assert "longer than" in refused("multipart/form-data; boundary=b", body)
    short = (
        b"--b\r\nContent-Disposition: form-data; name=sdp; x=" + b"(" * 500 + b"\r\n\r\n\r\n--b--"
    )
    assert "malformed" in refused("multipart/form-data; boundary=b", short)


def test_7000_empty_parts_stop_at_the_part_bound() -> None:
    body = b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n\r\n" * 7000 + b"--b--\r\n"
    assert f"more than {MAX_PARTS} parts" in refused("multipart/form-data; boundary=b", body)


@pytest.mark.parametrize(
    ("parts", "why"),
    [
        ([("session", SESSION)], "no 'sdp' part"),
        ([("sdp", SDP), ("sdp", SDP)], "more than one 'sdp' part"),
    ],
)
def test_the_offer_needs_exactly_one_sdp_part(parts: list[tuple[str, str]], why: str) -> None:
    content_type, body = form(parts)
    with pytest.raises(InvalidRequest) as raised:
        parse_offer(content_type, body)
    assert why in raised.value.message
