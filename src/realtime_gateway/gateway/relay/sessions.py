"""The WebSocket sessions this process relays, by call id: what `Calls.close_session` ends
(the reaper's deadline and budget, an operator's hang-up), and the provider sockets' pool."""

from __future__ import annotations

from realtime_gateway.gateway.calls.record import CallRecord, EndedReason
from realtime_gateway.gateway.relay.relay import RelayLimits, RelaySession
from realtime_gateway.gateway.relay.upstream import Upstreams


class RelaySessions:
    def __init__(self, upstreams: Upstreams, limits: RelayLimits) -> None:
        self.upstreams = upstreams
        self.limits = limits
        self._sessions: dict[str, RelaySession] = {}

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
