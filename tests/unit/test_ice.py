"""Loopback ICE: offers 127.0.0.1 only, and keeps only 127.0.0.1 among remote candidates."""

from __future__ import annotations

import aioice.ice

from realtime_gateway.media import ice

OFFER = (
    "v=0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host generation 0\r\n"
    "a=candidate:2 1 udp 2122262783 fd00::2 50001 typ host generation 0\r\n"
    "a=candidate:3 1 udp 2122194687 127.0.0.1 50002 typ host generation 0\r\n"
    "a=candidate:4 1 udp 2122129151 3c1e.local 50003 typ host generation 0\r\n"
    "a=candidate:5 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n"
    "a=mid:0\r\n"
)


def test_only_loopback_candidates_survive() -> None:
    kept = ice.keep_loopback_candidates(OFFER)
    candidates = [line for line in kept.splitlines() if line.startswith("a=candidate:")]
    assert [line.split()[4] for line in candidates] == ["127.0.0.1", "127.0.0.1"]
    assert "a=mid:0\r\n" in kept and kept.startswith("v=0\r\n")


def test_loopback_mode_gathers_127_0_0_1_only_and_can_be_undone() -> None:
    try:
        ice.use_loopback_only()
        assert ice.loopback_only_enabled()
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    finally:
        ice.use_host_interfaces()
    assert not ice.loopback_only_enabled()
    ice.use_loopback_only()  # the rest of the suite runs in loopback mode


def test_interfaces_and_loopback_adds_127_0_0_1_to_the_interfaces() -> None:
    before = aioice.ice.get_host_addresses  # whatever the suite had set: put it back after
    try:
        ice.use_host_interfaces()
        plain = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
        ice.use_interfaces_and_loopback()
        both = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    finally:
        aioice.ice.get_host_addresses = before
    assert "127.0.0.1" not in plain
    assert both == [*plain, "127.0.0.1"]
