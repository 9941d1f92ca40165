"""Fault injection for call control (sidebands, hang-ups) and Realtime WebSocket sessions, one
switch per stub.

- `sideband_refuse`: every sideband upgrade is refused with this HTTP status (OpenAI's error body).
- `sideband_drop_after`: each sideband is dropped (closed with 1011) after this many server
  events, while the call goes on.
- `hangup_fail_once`: the next hang-up (Realtime or Live) answers 500 and leaves the call up.
- `session_refuse`: every Realtime WebSocket session (`?model=`) is refused at the upgrade with
  this HTTP status.
- `session_drop_after`: each such session is closed by the server (1011, `server_closed`) after
  this many server events.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class CallFault:
    sideband_refuse: int | None = None
    sideband_drop_after: int | None = None
    hangup_fail_once: bool = False
    session_refuse: int | None = None
    session_drop_after: int | None = None


class CallFaultSwitch:
    """Set from a test thread, read by the stub's event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault = CallFault()

    def set(
        self,
        *,
        sideband_refuse: int | None = None,
        sideband_drop_after: int | None = None,
        hangup_fail_once: bool = False,
        session_refuse: int | None = None,
        session_drop_after: int | None = None,
    ) -> None:
        for name, status in (
            ("sideband_refuse", sideband_refuse),
            ("session_refuse", session_refuse),
        ):
            if status is not None and not 400 <= status <= 599:
                raise ValueError(f"{name} {status} is not an error status")
        for name, count in (
            ("sideband_drop_after", sideband_drop_after),
            ("session_drop_after", session_drop_after),
        ):
            if count is not None and count < 0:
                raise ValueError(f"{name} must not be negative")
        with self._lock:
            self._fault = CallFault(
                sideband_refuse,
                sideband_drop_after,
                hangup_fail_once,
                session_refuse,
                session_drop_after,
            )

    def clear(self) -> None:
        self.set()

    @property
    def current(self) -> CallFault:
        with self._lock:
            return self._fault

    def take_hangup_failure(self) -> bool:
        """True once after `hangup_fail_once` was set; the fault is then spent."""
        with self._lock:
            if not self._fault.hangup_fail_once:
                return False
            self._fault = dataclasses.replace(self._fault, hangup_fail_once=False)
            return True
