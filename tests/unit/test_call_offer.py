"""The offer a caller posts to `/realtime_calls`: raw SDP or the SDK's multipart form, and what
is refused as not SDP (400 invalid_request, never echoing the body)."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.calls.offer import parse_offer
from realtime_gateway.gateway.errors import InvalidRequest

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def multipart(parts: list[tuple[str, str, str]], boundary: str = "xyz") -> tuple[str, bytes]:
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n{content}\r\n"
        for name, kind, content in parts
    )
    return f"multipart/form-data; boundary={boundary}", (body + f"--{boundary}--\r\n").encode()


def test_raw_sdp_is_taken_as_is() -> None:
    assert parse_offer("application/sdp", SDP.encode()) == SDP


def test_the_sdks_multipart_gives_its_sdp_part_and_ignores_session() -> None:
    content_type, body = multipart(
        [("sdp", "application/sdp", SDP), ("session", "application/json", '{"model": "x"}')]
    )
    assert (
        parse_offer(content_type, body).replace("\r\n", "\n").strip()
        == SDP.replace("\r\n", "\n").strip()
    )


@pytest.mark.parametrize(
    ("content_type", "body", "why"),
    [
        ("application/sdp", b"hello", "start with v=0"),
        ("application/sdp", b"", "start with v=0"),
        ("application/sdp", b"v=0\r\ns=-\r\nm=audio 9 RTP 0\r\n", "no origin"),
        ("application/sdp", b"v=0\r\no=- 1 1 IN IP4 0\r\n", "no media section"),
        ("application/sdp", SDP.encode() + b"<script>\r\n", "not <type>=<value>"),
        ("application/sdp", SDP.encode() + b"a=x\x00y\r\n", "control characters"),
        ("application/sdp", b"v=0\r\n\xff\xfe", "not UTF-8"),
        ("application/json", b'{"sdp": "v=0"}', "start with v=0"),
        (*multipart([("session", "application/json", "{}")]), "no 'sdp' part"),
        ("multipart/form-data; boundary=nope", b"garbage", "could not be parsed"),
    ],
)
def test_what_is_not_an_sdp_offer_is_refused(content_type: str, body: bytes, why: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_offer(content_type, body)
    assert why in refused.value.message
    assert "script" not in refused.value.message  # the body is never echoed
