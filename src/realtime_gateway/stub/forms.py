"""The SDP offer out of a request: a raw `application/sdp` body or the SDK's multipart form."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field
from typing import Any


class OfferError(ValueError):
    """The request carries no usable SDP offer; the message says why (no secrets in it)."""


@dataclass
class Offer:
    sdp: str
    session: dict[str, Any] = field(default_factory=dict)


def parse_offer(content_type: str, body: bytes) -> Offer:
    if content_type.lower().startswith("multipart/form-data"):
        offer = _parse_multipart(content_type, body)
    else:
        offer = Offer(sdp=body.decode("utf-8", errors="replace"))
    if not offer.sdp.lstrip().startswith("v=0"):
        raise OfferError("The request body is not an SDP offer.")
    if "\nm=" not in offer.sdp:
        raise OfferError("The SDP offer has no media or data channel section.")
    return offer


def _parse_multipart(content_type: str, body: bytes) -> Offer:
    # The email parser knows MIME multipart; python-multipart is not a dependency.
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise OfferError("The multipart body could not be parsed.")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", errors="replace")
    if "sdp" not in fields:
        raise OfferError("Missing required parameter: 'sdp'.")
    session: dict[str, Any] = {}
    if "session" in fields:
        try:
            loaded = json.loads(fields["session"])
        except ValueError as error:
            raise OfferError("The 'session' part is not JSON.") from error
        if not isinstance(loaded, dict):
            raise OfferError("The 'session' part is not a JSON object.")
        session = loaded
    return Offer(sdp=fields["sdp"], session=session)
