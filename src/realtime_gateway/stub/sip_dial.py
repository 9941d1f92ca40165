"""A dial of the stub's test-only `POST /_stub/sip/dial`, read and checked, and what OpenAI makes
of an incoming SIP call: its INVITE's headers and the `*.incoming` webhook event.

Body: `{"to": "+15551230001", "from": "+15559870002", "headers": {"X-Foo": "bar"},
"api": "realtime" | "live", "speak": "what the caller says"}`; only `to` is required.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

DEFAULT_FROM = "+15550100000"
DEFAULT_SPEAK = "Hello, I am calling about my order. Can you help me?"
APIS = ("realtime", "live")
MAX_ADDRESS_CHARS = 256
MAX_EXTRA_HEADERS = 32
MAX_HEADER_VALUE_CHARS = 1024
MAX_SPEAK_CHARS = 1000
# Where the INVITE came from and went to: the carrier's side is made up (`.invalid` never
# resolves), OpenAI's is its SIP endpoint.
CARRIER_HOST = "carrier.stub.invalid"
OPENAI_SIP_HOST = "sip.api.openai.com"
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")  # an RFC 3261 header name
# OpenAI passes on an INVITE's headers "excluding SIP authorization headers".
_WITHHELD = frozenset({"authorization", "proxy-authorization"})
_CORE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type")


class DialError(ValueError):
    """A dial the stub refuses (400), naming the field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Dial:
    to: str
    from_: str
    extra_headers: tuple[tuple[str, str], ...]
    api: str
    speak: str


def _text(body: dict[str, Any], name: str, default: str | None, limit: int) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise DialError(f"'{name}' must be a non-empty string.", name)
    if len(value) > limit or any(c in value for c in "\r\n\0"):
        raise DialError(f"'{name}' must be one line of at most {limit} characters.", name)
    return value.strip()


def parse_dial(body: Any) -> Dial:
    """The dial a JSON body asks for, or `DialError`."""
    if not isinstance(body, dict):
        raise DialError("The request body must be a JSON object.", "body")
    unknown = sorted(set(body) - {"to", "from", "headers", "api", "speak"})
    if unknown:
        raise DialError(f"Unknown parameter: '{unknown[0]}'.", unknown[0])
    to = _text(body, "to", None, MAX_ADDRESS_CHARS)
    from_ = _text(body, "from", DEFAULT_FROM, MAX_ADDRESS_CHARS) or DEFAULT_FROM
    api = body.get("api", "realtime")
    if api not in APIS:
        raise DialError("'api' must be 'realtime' or 'live'.", "api")
    speak = body.get("speak", DEFAULT_SPEAK)
    if not isinstance(speak, str) or len(speak) > MAX_SPEAK_CHARS:
        raise DialError(f"'speak' must be at most {MAX_SPEAK_CHARS} characters.", "speak")
    raw_headers = body.get("headers", {})
    if not isinstance(raw_headers, dict) or len(raw_headers) > MAX_EXTRA_HEADERS:
        raise DialError(
            f"'headers' must be an object of at most {MAX_EXTRA_HEADERS} headers.", "headers"
        )
    extra: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        if not _TOKEN.match(name):
            raise DialError("A header name must be a SIP token.", "headers")
        if not isinstance(value, str) or len(value) > MAX_HEADER_VALUE_CHARS:
            raise DialError(f"Header '{name}' must have a string value.", "headers")
        if any(c in value for c in "\r\n\0"):
            raise DialError(f"Header '{name}' must be one line.", "headers")
        if name.lower() not in _WITHHELD:
            extra.append((name, value))
    return Dial(to=to, from_=from_, extra_headers=tuple(extra), api=str(api), speak=speak.strip())


def sip_uri(address: str, host: str) -> str:
    """`<sip:+1555...@host>` for a bare number; a URI given whole is kept (in angle brackets),
    and so is a name-addr (`"Shop" <sip:...>`)."""
    if "<" in address:
        return address
    if address.lower().startswith(("sip:", "sips:", "tel:")):
        return f"<{address}>"
    return f"<sip:{address}@{host}>"


def sip_headers(dial: Dial) -> list[dict[str, str]]:
    """The INVITE's headers as OpenAI lists them (`{"name", "value"}`, in order), the dial's
    extras after the ones every INVITE has."""
    values = {
        "From": f"{sip_uri(dial.from_, CARRIER_HOST)};tag={secrets.token_hex(4)}",
        "To": sip_uri(dial.to, OPENAI_SIP_HOST),
        "Call-ID": f"{secrets.token_hex(12)}@{CARRIER_HOST}",
        "CSeq": "1 INVITE",
        "Max-Forwards": "70",
        "Content-Type": "application/sdp",
    }
    headers = [{"name": name, "value": values[name]} for name in _CORE]
    headers.extend({"name": name, "value": value} for name, value in dial.extra_headers)
    return headers


def incoming_event(
    api: str, call_id: str, headers: list[dict[str, str]], event_id: str, created_at: int
) -> dict[str, Any]:
    """`realtime.call.incoming` (`data.call_id`) or `live.transport.incoming`
    (`data.session_id`, `data.type: sip`), shaped as `openai/types/webhooks/` has them."""
    if api == "live":
        data: dict[str, Any] = {"session_id": call_id, "sip_headers": headers, "type": "sip"}
        event_type = "live.transport.incoming"
    else:
        data = {"call_id": call_id, "sip_headers": headers}
        event_type = "realtime.call.incoming"
    return {
        "object": "event",
        "id": event_id,
        "type": event_type,
        "created_at": created_at,
        "data": data,
    }
