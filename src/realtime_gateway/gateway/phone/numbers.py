"""The number a phone call was made to, read off its SIP `To` header and normalised to E.164,
and the tenant whose policy names it. The other SIP headers are the caller's to write: they are
kept as metadata and never choose a tenant."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from realtime_gateway.gateway.policy import Policies

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
VISUAL_SEPARATORS = str.maketrans("", "", " -.()")
MAX_HEADER_CHARS = 1024


def header_value(sip_headers: Iterable[Any], name: str) -> str | None:
    """The first header called `name` (any case) in OpenAI's `[{name, value}]` list."""
    for header in sip_headers:
        if not isinstance(header, dict):
            continue
        if str(header.get("name", "")).lower() == name.lower():
            value = header.get("value")
            return value if isinstance(value, str) and len(value) <= MAX_HEADER_CHARS else None
    return None


def number_of(address: str | None) -> str | None:
    """`"Shop" <sip:+1 (555) 123-0001@host;user=phone>;tag=x` -> `+15551230001`; `tel:` and
    `sips:` URIs likewise, `00` for `+` and digits without one taken as international. None
    when the user part is not a number."""
    if not address:
        return None
    text = address.strip()
    if "<" in text:  # a name-addr: the URI is between the angle brackets
        start = text.index("<") + 1
        end = text.find(">", start)
        text = text[start : end if end >= 0 else len(text)]
    else:
        text = text.split(";", 1)[0]  # an addr-spec's header parameters (`;tag=`)
    scheme, colon, rest = text.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips", "tel"):
        return None
    user = rest.split("@", 1)[0].split(";", 1)[0].translate(VISUAL_SEPARATORS)
    if user.startswith("00"):
        user = "+" + user[2:]
    elif user.isdigit():
        user = "+" + user
    return user if E164.match(user) else None


def tenant_for_number(policies: Policies, number: str | None) -> str | None:
    """The one tenant whose `phone_numbers` holds `number`; None for no tenant, or when two
    claim it (an ambiguous number is nobody's)."""
    if number is None:
        return None
    owners = [name for name, policy in policies.tenants.items() if number in policy.phone_numbers]
    return owners[0] if len(owners) == 1 else None


def shared_numbers(policies: Policies) -> list[str]:
    """Numbers more than one tenant names: a configuration error."""
    seen: dict[str, str] = {}
    shared: set[str] = set()
    for name, policy in policies.tenants.items():
        for number in policy.phone_numbers:
            if seen.setdefault(number, name) != name:
                shared.add(number)
    return sorted(shared)
