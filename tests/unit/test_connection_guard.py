"""The connection guard's parts that need no server: the documented error as a raw answer,
and a connection cap the descriptor limit can hold."""

from __future__ import annotations

import json
import resource

from realtime_gateway.gateway.connection_guard import (
    RESERVED_DESCRIPTORS,
    ConnectionLimits,
    descriptor_safe_cap,
    raw_error_response,
)
from realtime_gateway.gateway.errors import HeadersTooLarge
from realtime_gateway.gateway.settings import load_settings


def test_raw_error_answer_is_the_documented_body_and_closes() -> None:
    raw = raw_error_response(HeadersTooLarge("request headers are larger than 16384 bytes"))
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert "connection: close" in lines and f"content-length: {len(body)}" in lines
    assert json.loads(body) == {
        "error_code": "headers_too_large",
        "message": "request headers are larger than 16384 bytes",
    }


def test_connection_cap_fits_under_the_descriptor_limit() -> None:
    assert descriptor_safe_cap(10) == 10
    capped = descriptor_safe_cap(10**9)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        assert capped == 10**9
    else:
        assert capped <= soft - RESERVED_DESCRIPTORS


def test_limits_come_from_the_settings() -> None:
    settings = load_settings(
        api_keys=["acme:k"],
        max_header_bytes=4096,
        header_timeout=2.5,
        keepalive_timeout=1.5,
        max_connections=50,
    )
    assert ConnectionLimits.from_settings(settings) == ConnectionLimits(4096, 2.5, 1.5, 50)
