"""Opt-in loopback ICE for aiortc peers (the stub and the client).

aioice leaves 127.0.0.1 out of its host candidates, so on a host whose only interface is
loopback (a CI sandbox may be one) ICE never leaves `new`. Tests and the offline demo call
`use_loopback_only()` so every aiortc peer in the process offers 127.0.0.1, and only that:
no ICE check then leaves the machine.
"""

from __future__ import annotations

import aioice.ice

_original_get_host_addresses = aioice.ice.get_host_addresses


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


def use_loopback_only() -> None:
    """Make every aiortc peer of this process gather 127.0.0.1 as its only host candidate."""
    aioice.ice.get_host_addresses = _loopback_addresses


def _interfaces_and_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _original_get_host_addresses(use_ipv4, use_ipv6)
    return [*addresses, "127.0.0.1"] if use_ipv4 else addresses


def use_interfaces_and_loopback() -> None:
    """Offer the machine's interfaces (what an ordinary browser pairs with) and 127.0.0.1 (what
    a loopback-only host, or Chromium under --allow-loopback-in-peer-connection, pairs with)."""
    aioice.ice.get_host_addresses = _interfaces_and_loopback


def use_host_interfaces() -> None:
    """Undo `use_loopback_only`: gather on the machine's interfaces as aioice does."""
    aioice.ice.get_host_addresses = _original_get_host_addresses


def loopback_only_enabled() -> bool:
    return aioice.ice.get_host_addresses is _loopback_addresses


def keep_loopback_candidates(sdp: str) -> str:
    """Drop every remote `a=candidate` line whose address is not 127.0.0.1.

    A browser's offer also lists the host's other interfaces (and mDNS `.local` names, which
    aiortc would resolve by multicast): in loopback mode no check may go anywhere but 127.0.0.1.
    """
    kept = []
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 5 or fields[4] != "127.0.0.1":
                continue
        kept.append(line)
    return "".join(kept)
