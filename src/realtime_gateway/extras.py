"""Which install extra each subcommand needs, and the one line that says so when it is missing.

`serve` needs only the core install; `stub`, `demo` and `connect` import media (aiortc, av,
numpy, aioice) or the client's HTTP library (httpx), which are extras, so a lean gateway
install stays lean (websockets is the core's: the gateway serves WebSockets).
"""

from __future__ import annotations

# The third-party packages that live in an extra, by the extra that brings them.
EXTRA_OF_PACKAGE: dict[str, str] = {
    "aiortc": "media",
    "aioice": "media",
    "av": "media",
    "numpy": "media",
    "httpx": "client",
}

# What to install for each subcommand that needs an extra.
EXTRAS_OF_COMMAND: dict[str, str] = {
    "stub": "stub",
    "demo": "demo",
    "connect": "client,media",
}


def missing_extra_message(command: str, error: ModuleNotFoundError) -> str | None:
    """The one line for `command` failing to import `error.name`, or None when that module is
    not one an extra provides (a bug then, not an install choice)."""
    package = (error.name or "").split(".")[0]
    if package not in EXTRA_OF_PACKAGE or command not in EXTRAS_OF_COMMAND:
        return None
    extras = EXTRAS_OF_COMMAND[command]
    return (
        f"realtime-gateway {command}: {package} is not installed; "
        f"install the extra: pip install 'realtime-gateway[{extras}]'"
    )
