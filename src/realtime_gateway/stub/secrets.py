"""Expiring ephemeral secrets (`ek_...`) minted by the stub, with the session each one opens."""

from __future__ import annotations

import heapq
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MintedSecret:
    value: str
    expires_at: float
    session_id: str
    model: str
    voice: str
    session: dict[str, Any] = field(default_factory=dict)


class SecretStore:
    """Secrets by value; a secret past its expiry is refused and forgotten.

    `clock` is the seam that lets tests expire a secret without waiting for it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._secrets: dict[str, MintedSecret] = {}
        # Soonest expiry first, so pruning on each mint costs only what has expired.
        self._expiries: list[tuple[float, str]] = []
        # The app's loop mints while test threads may read; keep the dict consistent.
        self._lock = threading.Lock()

    def mint(
        self,
        *,
        ttl_seconds: float,
        model: str,
        voice: str,
        session: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> MintedSecret:
        minted = MintedSecret(
            value="ek_" + secrets.token_hex(16),
            expires_at=self._clock() + ttl_seconds,
            session_id=session_id or new_id("sess_"),
            model=model,
            voice=voice,
            session=dict(session or {}),
        )
        with self._lock:
            self._prune()
            self._secrets[minted.value] = minted
            heapq.heappush(self._expiries, (minted.expires_at, minted.value))
        return minted

    def lookup(self, value: str) -> tuple[MintedSecret | None, str]:
        """The secret and "ok", or None and why not ("unknown" or "expired")."""
        with self._lock:
            minted = self._secrets.get(value)
            if minted is None:
                return None, "unknown"
            if self._clock() >= minted.expires_at:
                del self._secrets[value]
                return None, "expired"
            return minted, "ok"

    def __len__(self) -> int:
        with self._lock:
            return len(self._secrets)

    def _prune(self) -> None:
        now = self._clock()
        while self._expiries and now >= self._expiries[0][0]:
            _, value = heapq.heappop(self._expiries)
            self._secrets.pop(value, None)


def new_id(prefix: str) -> str:
    """An OpenAI-looking identifier: `sess_`, `rtc_`, `resp_`, `item_`, `event_` + 24 chars."""
    return prefix + secrets.token_hex(12)
