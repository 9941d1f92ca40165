"""Where the gateway attaches to a brokered call's sideband, per wire and provider."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.calls.records import CallRecord
from realtime_gateway.gateway.leash.sideband import sideband_url


def record(wire: str, upstream: str, provider_call_id: str) -> CallRecord:
    return CallRecord(
        call_id="call_" + "0" * 24,
        tenant="acme",
        provider_call_id=provider_call_id,
        wire=wire,  # type: ignore[arg-type]
        upstream_endpoint=upstream,
        model="gpt-realtime",
        voice="verse",
        started_at=0.0,
        deadline=900.0,
    )


@pytest.mark.parametrize(
    ("wire", "upstream", "expected"),
    [
        (
            "realtime",
            "https://api.openai.com/v1/realtime/calls",
            "wss://api.openai.com/v1/realtime?call_id=rtc_1",
        ),
        (
            "live",
            "https://api.openai.com/v1/live/sessions",
            "wss://api.openai.com/v1/live/sessions/rtc_1/attach",
        ),
        (
            "realtime",
            "https://acme.openai.azure.com/openai/v1/realtime/calls",
            "wss://acme.openai.azure.com/openai/v1/realtime?call_id=rtc_1",
        ),
        (
            "realtime",
            "http://127.0.0.1:8090/v1/realtime/calls",
            "ws://127.0.0.1:8090/v1/realtime?call_id=rtc_1",
        ),
    ],
)
def test_sideband_url_per_wire(wire: str, upstream: str, expected: str) -> None:
    assert sideband_url(record(wire, upstream, "rtc_1")) == expected


def test_a_provider_call_id_cannot_leave_its_place_in_the_url() -> None:
    url = sideband_url(record("live", "https://api.openai.com/v1/live/sessions", "a/../b?x=1"))
    assert url == "wss://api.openai.com/v1/live/sessions/a%2F..%2Fb%3Fx%3D1/attach"
