"""The caller's SDP offer, from a raw `application/sdp` body or the official SDK's multipart
form (`sdp`, and an optional `session` part: `/realtime_calls` ignores it, as the gateway
decides the session there; `/v1/realtime/calls` honours it within the tenant's policy)."""

from __future__ import annotations

from dataclasses import dataclass

from realtime_gateway.gateway.errors import InvalidRequest
from realtime_gateway.gateway.multipart import parse_form

MAX_SDP_LINE = 4096


@dataclass(frozen=True)
class Offer:
    sdp: str
    session: bytes | None = None  # the multipart `session` part, as sent


def parse_offer(content_type: str, body: bytes) -> str:
    """The SDP text, or `InvalidRequest` naming what is wrong (never echoing the body)."""
    return read_offer(content_type, body).sdp


def read_offer(content_type: str, body: bytes) -> Offer:
    """The SDP offer and, from a multipart form, its `session` part."""
    if content_type.lower().startswith("multipart/form-data"):
        offer = _multipart_offer(content_type, body)
    else:
        try:
            offer = Offer(body.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidRequest("the offer is not UTF-8 text") from error
    check_sdp(offer.sdp)
    return offer


def check_sdp(sdp: str) -> None:
    """An SDP offer by its shape (RFC 8866): `v=0` first, an origin, and a media section."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "v=0":
        raise InvalidRequest("the body is not an SDP offer (it must start with v=0)")
    if not any(line.startswith("o=") for line in lines):
        raise InvalidRequest("the SDP offer has no origin (o=) line")
    if not any(line.startswith("m=") for line in lines):
        raise InvalidRequest("the SDP offer has no media section (m=)")
    for line in lines:
        if line and (len(line) > MAX_SDP_LINE or len(line) < 2 or line[1] != "="):
            raise InvalidRequest("the SDP offer has a line that is not <type>=<value>")
        if any(ord(char) < 32 and char not in "\t\r" for char in line):
            raise InvalidRequest("the SDP offer contains control characters")


def _multipart_offer(content_type: str, body: bytes) -> Offer:
    # Flat and bounded (gateway/multipart.py): the body comes from a caller not yet trusted.
    parts = parse_form(content_type, body)
    sdp_parts = [part for part in parts if part.name == "sdp"]
    session_parts = [part for part in parts if part.name == "session"]
    if len(session_parts) > 1:
        raise InvalidRequest("the multipart body has more than one 'session' part")
    if not sdp_parts:
        raise InvalidRequest("the multipart body has no 'sdp' part")
    if len(sdp_parts) > 1:
        raise InvalidRequest("the multipart body has more than one 'sdp' part")
    try:
        sdp = sdp_parts[0].data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest("the sdp part is not UTF-8 text") from error
    return Offer(sdp, session_parts[0].data if session_parts else None)
