"""The connection guard's parts that need no server: the documented error as a raw answer,
and a connection cap the descriptor limit can hold (computed against limits given to it: the
test process's own limit is never changed)."""

from __future__ import annotations

import json
import resource

import pytest

from realtime_gateway.gateway.connection_guard import ConnectionLimits, raw_error_response
from realtime_gateway.gateway.descriptors import descriptor_reserve, descriptor_safe_cap, plan_cap
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


INFINITY = resource.RLIM_INFINITY


@pytest.mark.parametrize(
    ("requested", "reserve", "soft", "hard", "expected"),
    [
        (1000, 600, 4096, 4096, (1000, 4096)),  # fits as it is
        (1000, 600, 1024, 1_048_576, (1000, 1600)),  # the soft limit is raised to fit
        (1000, 600, 1024, INFINITY, (1000, 1600)),
        (1000, 600, 1024, 1024, (424, 1024)),  # cannot be raised: the cap is lowered
        (1000, 600, 1024, 1200, (600, 1200)),  # raised as far as it goes, then lowered
        (1000, 600, 512, 512, (1, 512)),  # not even the pools fit: one connection
        (1000, 600, INFINITY, INFINITY, (1000, INFINITY)),
    ],
)
def test_the_cap_and_the_soft_limit_for_a_descriptor_limit(
    requested: int, reserve: int, soft: int, hard: int, expected: tuple[int, int]
) -> None:
    assert plan_cap(requested, reserve, soft, hard) == expected


def test_the_soft_limit_is_raised_through_the_seam_and_a_refusal_lowers_the_cap() -> None:
    calls: list[tuple[int, int]] = []

    def limits(_: int) -> tuple[int, int]:
        return 1024, 1_048_576

    def accepting(_: int, value: tuple[int, int]) -> None:
        calls.append(value)

    def refusing(_: int, value: tuple[int, int]) -> None:
        raise ValueError("not permitted")

    assert descriptor_safe_cap(1000, 600, getrlimit=limits, setrlimit=accepting) == 1000
    assert calls == [(1600, 1_048_576)]
    assert descriptor_safe_cap(1000, 600, getrlimit=limits, setrlimit=refusing) == 424


def test_limits_come_from_the_settings() -> None:
    settings = load_settings(
        api_keys=["acme:k"],
        max_header_bytes=4096,
        header_timeout=2.5,
        keepalive_timeout=1.5,
        max_connections=50,
    )
    limits = ConnectionLimits.from_settings(
        settings, getrlimit=lambda _: (100_000, 100_000), setrlimit=None
    )
    assert limits == ConnectionLimits(4096, 2.5, 1.5, 50)


def test_the_cap_leaves_the_reserve_free_under_a_low_limit() -> None:
    settings = load_settings(api_keys=["acme:k"], max_connections=1000)
    reserve = descriptor_reserve(settings).total
    limits = ConnectionLimits.from_settings(
        settings, getrlimit=lambda _: (1024, 1024), setrlimit=None
    )
    assert limits.max_connections == 1024 - reserve
