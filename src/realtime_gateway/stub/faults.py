"""Fault injection for the stub's minting endpoints, and OpenAI's error body shape."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

# OpenAI's (type, code) per status, as its API answers them.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "unknown_url"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


def openai_error(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
    error_type: str | None = None,
) -> dict[str, Any]:
    """`{"error": {"message", "type", "code", "param"}}`, never echoing a credential."""
    kind, default_code = _ERROR_KINDS.get(
        status, ("invalid_request_error" if status < 500 else "server_error", None)
    )
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = f"Error {status}"
    return {
        "error": {
            "message": message,
            "type": error_type or kind,
            "code": code if code is not None else default_code,
            "param": param,
        }
    }


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    delay: float = 0.0
    malformed: bool = False


class FaultSwitch:
    """The fault in force; set from a test thread, read by the app's event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault = Fault()

    def set(self, status: int | None = None, delay: float = 0.0, malformed: bool = False) -> None:
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status")
        if delay < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self._fault = Fault(status=status, delay=delay, malformed=malformed)

    def clear(self) -> None:
        self.set()

    @property
    def current(self) -> Fault:
        with self._lock:
            return self._fault
