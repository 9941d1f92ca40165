"""Where callers reach this gateway, for the URLs it hands out (`webrtc_url`, `Location`):
`GATEWAY_PUBLIC_URL` when set, else the address of the socket the request came in on. Never a
request header: a `Host: evil.example` must not send a caller's offer and token elsewhere."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Scope


def public_base(public_url: str | None, scope: Scope) -> str:
    """`https://gateway.example` (no trailing slash)."""
    if public_url:
        return public_url.rstrip("/")
    server = scope.get("server") or ("127.0.0.1", 80)
    host, port = server[0], server[1]
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return f"{scheme}://{host}:{port}"


def path_prefix(public_url: str | None) -> str:
    """The path `GATEWAY_PUBLIC_URL` puts the gateway under (`/gw`), or empty."""
    return urlsplit(public_url).path.rstrip("/") if public_url else ""
