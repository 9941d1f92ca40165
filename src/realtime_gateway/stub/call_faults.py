"""Fault injection for the call-control routes (sidebands and hang-ups), one switch per stub.

- `sideband_refuse`: every sideband upgrade is refused with this HTTP status (OpenAI's error body).
- `sideband_drop_after`: each sideband is dropped (closed with 1011) after this many server
  events, while the call goes on.
- `hangup_fail_once`: the next hang-up (Realtime or Live) answers 500 and leaves the call up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class CallFault:
    sideband_refuse: int | None = None
    sideband_drop_after: int | None = None
    hangup_fail_once: bool = False


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
    ) -> None:
        if sideband_refuse is not None and not 400 <= sideband_refuse <= 599:
            raise ValueError(f"sideband_refuse {sideband_refuse} is not an error status")
        if sideband_drop_after is not None and sideband_drop_after < 0:
            raise ValueError("sideband_drop_after must not be negative")
        with self._lock:
            self._fault = CallFault(sideband_refuse, sideband_drop_after, hangup_fail_once)

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
            self._fault = CallFault(
                self._fault.sideband_refuse, self._fault.sideband_drop_after, False
            )
            return True
