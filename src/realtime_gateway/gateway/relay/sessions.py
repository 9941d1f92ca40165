"""The WebSocket sessions this process relays, by call id: what `Calls.close_session` ends
(the reaper's deadline and budget, an operator's hang-up), and the provider sockets' pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from realtime_gateway.gateway.calls.record import CallRecord, EndedReason
from realtime_gateway.gateway.errors import ServerBusy
from realtime_gateway.gateway.relay.relay import RelayLimits, RelaySession
from realtime_gateway.gateway.relay.upstream import Upstreams


class RelaySessions:
    def __init__(self, upstreams: Upstreams, limits: RelayLimits, max_sockets: int) -> None:
        self.upstreams = upstreams
        self.limits = limits
        self.max_sockets = max_sockets
        self._sessions: dict[str, RelaySession] = {}
        self._sockets = 0

    @contextmanager
    def socket_slot(self) -> Iterator[None]:
        """Room for one more provider socket (a session or a tenant sideband), held until
        the block ends; 503 `server_busy` when this process holds `max_sockets` already
        (the descriptor reserve counts them)."""
        if self._sockets >= self.max_sockets:
            raise ServerBusy(f"this gateway process relays {self.max_sockets} sessions already")
        self._sockets += 1
        try:
            yield
        finally:
            self._sockets -= 1

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: RelaySession) -> None:
        self._sessions[session.call_id] = session

    def remove(self, session: RelaySession) -> None:
        if self._sessions.get(session.call_id) is session:
            del self._sessions[session.call_id]

    async def close(self, record: CallRecord, reason: EndedReason) -> bool:
        """End a session relayed here (True), or say it is not (False)."""
        session = self._sessions.get(record.call_id)
        if session is None:
            return False
        await session.close(reason)
        return True

    async def aclose(self) -> None:
        await self.upstreams.aclose()
