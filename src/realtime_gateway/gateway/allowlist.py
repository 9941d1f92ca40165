"""The endpoint allow-list: a caller's `endpoint` is used only if its normalised URL is listed.

Normalising makes `HTTPS://API.openai.com:443/v1/...` and `https://api.openai.com/v1/...` the
same entry, and refuses what could smuggle the key elsewhere: userinfo, fragments, dot
segments (plain or percent-encoded).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
FORBIDDEN_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")


class EndpointRejected(ValueError):
    """The URL is malformed or not allowed; the message is safe to show the caller."""


def normalise_url(url: str) -> str:
    """The canonical form of an absolute http(s) URL, or `EndpointRejected`."""
    if len(url) > MAX_URL_LENGTH:
        raise EndpointRejected(f"endpoint is longer than {MAX_URL_LENGTH} characters")
    if FORBIDDEN_CHARACTERS.search(url):
        raise EndpointRejected("endpoint contains white space, backslashes or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EndpointRejected("endpoint is not a valid URL") from error
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise EndpointRejected("endpoint must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise EndpointRejected("endpoint must not carry user information")
    if parts.fragment or url.endswith("#"):
        raise EndpointRejected("endpoint must not carry a fragment")
    # `%2e%2e` is a dot segment too: yarl and servers decode and resolve it.
    segments = (unquote(segment) for segment in parts.path.split("/"))
    if any(segment in (".", "..") for segment in segments):
        raise EndpointRejected("endpoint path must not contain dot segments")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


class AllowList:
    def __init__(self, entries: list[str]) -> None:
        self._entries = frozenset(normalise_url(entry) for entry in entries)

    def resolve(self, url: str) -> str:
        """The normalised URL if listed; else `EndpointRejected` (never echoing the URL)."""
        normalised = normalise_url(url)
        if normalised not in self._entries:
            raise EndpointRejected("endpoint is not in the gateway's allowed endpoints")
        return normalised
