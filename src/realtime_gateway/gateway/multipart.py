"""A bounded, flat `multipart/form-data` parser (RFC 7578 over RFC 2046) for the bodies the
gateway reads before it trusts the caller: the SDK's `sdp` + `session` offer form.

Python's `email` parser recursed into nested parts (1,500 of them: a `RecursionError` after
1.6 s of CPU), tokenised header comments without bound (20,000 `(`: a 500) and took 7,000 empty
parts at about 1 s. This one does one pass over the body with `bytes.find`, one level only: at
most `max_parts` parts, each with at most `MAX_PART_HEADERS` header lines in at most
`MAX_PART_HEADER_BYTES`; a part that is itself multipart, a folded or malformed header, a
bad boundary or a missing closing delimiter is refused. Names come from `Content-Disposition`
only. Every refusal is an `InvalidRequest` with a short reason that never quotes the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from realtime_gateway.gateway.errors import InvalidRequest

MAX_PARTS = 8
MAX_PART_HEADERS = 8
MAX_PART_HEADER_BYTES = 2048  # one part's header block, blank line excluded
MAX_BODY_BYTES = 1024 * 1024
MAX_BOUNDARY = 70  # RFC 2046 section 5.1.1
# RFC 2046 bchars; a boundary may not end in a space.
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# RFC 2045 token: no space, no control, none of the tspecials.
TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
HEADER_NAME = TOKEN
IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
LWSP = b" \t"


@dataclass(frozen=True)
class Part:
    """One field of the form: its `Content-Disposition` name, `Content-Type` (if given)
    and content bytes, as sent."""

    name: str
    content_type: str | None
    data: bytes


def _refuse(reason: str) -> InvalidRequest:
    return InvalidRequest(f"the multipart body could not be parsed ({reason})")


def parse_header_value(value: str, what: str) -> tuple[str, dict[str, str]]:
    """`type; a=b; c="d"` -> ("type", {"a": "b", "c": "d"}), names lower-cased. One pass;
    quoted strings may hold backslash escapes; no comments, no RFC 2231 continuations."""
    value = value.strip(" \t")
    head, _, rest = value.partition(";")
    head = head.strip(" \t").lower()
    if not TOKEN.fullmatch(head.replace("/", "")):
        raise _refuse(f"the {what} header is malformed")
    params: dict[str, str] = {}
    position, end = 0, len(rest)
    while position < end:
        while position < end and rest[position] in " \t;":
            position += 1
        if position >= end:
            break
        equals = rest.find("=", position)
        if equals < 0:
            raise _refuse(f"a parameter of the {what} header has no value")
        name = rest[position:equals].strip(" \t").lower()
        if not TOKEN.fullmatch(name):
            raise _refuse(f"a parameter of the {what} header is malformed")
        position = equals + 1
        while position < end and rest[position] in " \t":
            position += 1
        if position < end and rest[position] == '"':
            chars: list[str] = []
            position += 1
            while position < end and rest[position] != '"':
                if rest[position] == "\\" and position + 1 < end:
                    position += 1
                chars.append(rest[position])
                position += 1
            if position >= end:
                raise _refuse(f"a quoted parameter of the {what} header is not closed")
            position += 1
            parsed = "".join(chars)
        else:
            stop = rest.find(";", position)
            stop = end if stop < 0 else stop
            parsed = rest[position:stop].strip(" \t")
            if not TOKEN.fullmatch(parsed):
                raise _refuse(f"a parameter of the {what} header is malformed")
            position = stop
        while position < end and rest[position] in " \t":
            position += 1
        if position < end and rest[position] != ";":
            raise _refuse(f"the {what} header is malformed")
        if name in params:
            raise _refuse(f"the {what} header repeats a parameter")
        params[name] = parsed
    return head, params


def boundary_of(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type, checked against RFC 2046."""
    kind, params = parse_header_value(content_type, "Content-Type")
    if kind != "multipart/form-data":
        raise _refuse("the Content-Type is not multipart/form-data")
    boundary = params.get("boundary")
    if boundary is None:
        raise _refuse("the Content-Type names no boundary")
    if len(boundary) > MAX_BOUNDARY or not BOUNDARY.fullmatch(boundary):
        raise _refuse("the boundary is not 1 to 70 characters allowed by RFC 2046")
    return boundary.encode("ascii")


def parse_form(
    content_type: str,
    body: bytes,
    *,
    max_parts: int = MAX_PARTS,
    max_bytes: int = MAX_BODY_BYTES,
) -> list[Part]:
    """Every part of a `multipart/form-data` body, in order; `InvalidRequest` otherwise."""
    if len(body) > max_bytes:
        raise _refuse(f"it is larger than {max_bytes} bytes")
    delimiter = b"--" + boundary_of(content_type)
    # The first delimiter: at the very start, or after a preamble ending in a line break.
    if body.startswith(delimiter):
        position = len(delimiter)
    else:
        found = body.find(b"\n" + delimiter)
        if found < 0:
            raise _refuse("no boundary line")
        position = found + 1 + len(delimiter)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", position):
            break  # the close delimiter; what follows is the epilogue, ignored
        position = _end_of_boundary_line(body, position)
        if len(parts) == max_parts:
            raise _refuse(f"more than {max_parts} parts")
        headers_end, content_start = _end_of_headers(body, position)
        name, kind = _part_headers(body[position:headers_end])
        found = body.find(b"\n" + delimiter, content_start - 1)
        if found < 0:
            raise _refuse("it ends without its closing boundary")
        content_end = found - 1 if found > content_start and body[found - 1] == 0x0D else found
        parts.append(Part(name, kind, body[content_start : max(content_start, content_end)]))
        position = found + 1 + len(delimiter)
    if not parts:
        raise _refuse("no parts")
    return parts


def _end_of_boundary_line(body: bytes, position: int) -> int:
    """Past the transport padding and line break that end a boundary line."""
    while position < len(body) and body[position] in LWSP:
        position += 1
    if body.startswith(b"\r\n", position):
        return position + 2
    if body.startswith(b"\n", position):
        return position + 1
    if position >= len(body):
        raise _refuse("it ends without its closing boundary")
    raise _refuse("a boundary line has other characters after the boundary")


def _end_of_headers(body: bytes, position: int) -> tuple[int, int]:
    """Where a part's header block ends, and where its content starts."""
    if body.startswith(b"\r\n", position):  # no header lines at all
        return position, position + 2
    if body.startswith(b"\n", position):
        return position, position + 1
    window = body[position : position + MAX_PART_HEADER_BYTES + 4]
    crlf, lf = window.find(b"\r\n\r\n"), window.find(b"\n\n")
    ends = [(index, 4) for index in (crlf,) if index >= 0] + [(i, 2) for i in (lf,) if i >= 0]
    if not ends:
        if len(window) > MAX_PART_HEADER_BYTES:
            raise _refuse(f"a part's headers are longer than {MAX_PART_HEADER_BYTES} bytes")
        raise _refuse("a part's headers do not end")
    index, size = min(ends)
    if index > MAX_PART_HEADER_BYTES:
        raise _refuse(f"a part's headers are longer than {MAX_PART_HEADER_BYTES} bytes")
    return position + index, position + index + size


def _part_headers(block: bytes) -> tuple[str, str | None]:
    """The part's name (from Content-Disposition) and its Content-Type."""
    if not block:
        raise _refuse("a part has no Content-Disposition")
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    if len(lines) > MAX_PART_HEADERS:
        raise _refuse(f"a part has more than {MAX_PART_HEADERS} header lines")
    disposition: str | None = None
    kind: str | None = None
    for raw in lines:
        if raw[:1] in (b" ", b"\t"):
            raise _refuse("a part header is folded")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _refuse("a part header is not UTF-8") from None
        name, sep, value = line.partition(":")
        if not sep or not HEADER_NAME.fullmatch(name):
            raise _refuse("a part header is malformed")
        if any(ord(char) < 32 and char != "\t" for char in value):
            raise _refuse("a part header has control characters")
        lowered = name.lower()
        if lowered == "content-disposition":
            if disposition is not None:
                raise _refuse("a part has two Content-Disposition headers")
            disposition = value
        elif lowered == "content-type":
            if kind is not None:
                raise _refuse("a part has two Content-Type headers")
            kind = value.strip(" \t")
            if kind.lower().startswith("multipart/"):
                raise _refuse("a part is itself multipart (nesting is not accepted)")
            parse_header_value(kind, "part's Content-Type")
        elif lowered == "content-transfer-encoding":
            if value.strip(" \t").lower() not in IDENTITY_ENCODINGS:
                raise _refuse("a part has a Content-Transfer-Encoding other than binary")
    if disposition is None:
        raise _refuse("a part has no Content-Disposition")
    form, params = parse_header_value(disposition, "Content-Disposition")
    if form != "form-data" or not params.get("name"):
        raise _refuse("a part's Content-Disposition is not form-data with a name")
    return params["name"], kind
