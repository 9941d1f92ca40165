"""The runtime tenant registry: tenants `{name, policy, disabled}` and their keys `{id, prefix,
sha256, created_ms}`, behind one protocol with an in-process implementation (the Redis one is
`redis_registry.py`). Every change bumps a version; replicas re-read the whole registry when it
moves (`refresh.py`). A key itself is never stored: only its SHA-256 and a short prefix.

Refusals are the gateway's errors: `TenantExists` (409 `conflict`), `NoSuchTenant` (404
`not_found`, also for a key id that is not the tenant's).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from realtime_gateway.gateway.errors import Conflict, NotFound
from realtime_gateway.gateway.settings import TenantPolicyOverrides

KEY_PREFIX = "rtg_live_"
VISIBLE_CHARS = 12  # `rtg_live_` + 3 random characters: enough to tell keys apart


@dataclass(frozen=True)
class TenantEntry:
    name: str
    policy: dict[str, Any]  # TenantPolicyOverrides as JSON (fields set only)
    disabled: bool
    created_ms: int

    def overrides(self) -> TenantPolicyOverrides:
        return TenantPolicyOverrides.model_validate(self.policy)

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "policy": self.policy,
                "disabled": self.disabled,
                "created_ms": self.created_ms,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TenantEntry:
        data = json.loads(text)
        return cls(data["name"], data["policy"], bool(data["disabled"]), int(data["created_ms"]))


@dataclass(frozen=True)
class KeyEntry:
    id: str
    tenant: str
    prefix: str
    sha256: str  # hex digest of the key
    created_ms: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "tenant": self.tenant,
                "prefix": self.prefix,
                "sha256": self.sha256,
                "created_ms": self.created_ms,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> KeyEntry:
        data = json.loads(text)
        return cls(
            data["id"], data["tenant"], data["prefix"], data["sha256"], int(data["created_ms"])
        )


@dataclass(frozen=True)
class Snapshot:
    version: int
    tenants: dict[str, TenantEntry] = field(default_factory=dict)
    keys: dict[str, KeyEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class IssuedKey:
    entry: KeyEntry
    key: str  # shown once, to the admin who asked for it


class TenantExists(Conflict):
    """409 `conflict`: the name is taken."""


class NoSuchTenant(NotFound):
    """404 `not_found`: no such tenant, or no such key of it."""


def new_key() -> tuple[str, str, str]:
    """A fresh key (at least 192 random bits), its visible prefix and its SHA-256 (hex)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:VISIBLE_CHARS], hashlib.sha256(key.encode()).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


class TenantRegistry(Protocol):
    """Reads and changes; each change is atomic and bumps the version."""

    backend: str

    async def version(self) -> int: ...

    async def snapshot(self) -> Snapshot: ...

    async def create_tenant(self, name: str, policy: dict[str, Any]) -> TenantEntry:
        """409 `TenantExists` when the name is taken (disabled tenants keep their name)."""
        ...

    async def update_tenant(
        self, name: str, *, policy: dict[str, Any] | None = None, disabled: bool | None = None
    ) -> TenantEntry:
        """404 `NoSuchTenant` when it does not exist."""
        ...

    async def issue_key(self, tenant: str) -> IssuedKey: ...

    async def revoke_key(self, tenant: str, key_id: str) -> KeyEntry: ...

    async def aclose(self) -> None: ...


class MemoryRegistry:
    """The registry in one process (no Redis): the same rules, a lock for atomicity."""

    backend = "memory"

    def __init__(self) -> None:
        self._snapshot = Snapshot(0)
        self._lock = asyncio.Lock()

    async def version(self) -> int:
        return self._snapshot.version

    async def snapshot(self) -> Snapshot:
        return self._snapshot

    def _commit(self, tenants: dict[str, TenantEntry], keys: dict[str, KeyEntry]) -> None:
        self._snapshot = Snapshot(self._snapshot.version + 1, tenants, keys)

    async def create_tenant(self, name: str, policy: dict[str, Any]) -> TenantEntry:
        async with self._lock:
            current = self._snapshot
            if name in current.tenants:
                raise TenantExists(f"tenant {name} exists")
            entry = TenantEntry(name, policy, False, int(time.time() * 1000))
            self._commit({**current.tenants, name: entry}, dict(current.keys))
            return entry

    async def update_tenant(
        self, name: str, *, policy: dict[str, Any] | None = None, disabled: bool | None = None
    ) -> TenantEntry:
        async with self._lock:
            current = self._snapshot
            old = current.tenants.get(name)
            if old is None:
                raise NoSuchTenant(f"no tenant {name}")
            entry = TenantEntry(
                name,
                old.policy if policy is None else policy,
                old.disabled if disabled is None else disabled,
                old.created_ms,
            )
            self._commit({**current.tenants, name: entry}, dict(current.keys))
            return entry

    async def issue_key(self, tenant: str) -> IssuedKey:
        async with self._lock:
            current = self._snapshot
            if tenant not in current.tenants:
                raise NoSuchTenant(f"no tenant {tenant}")
            key, prefix, digest = new_key()
            entry = KeyEntry(new_key_id(), tenant, prefix, digest, int(time.time() * 1000))
            self._commit(dict(current.tenants), {**current.keys, entry.id: entry})
            return IssuedKey(entry, key)

    async def revoke_key(self, tenant: str, key_id: str) -> KeyEntry:
        async with self._lock:
            current = self._snapshot
            entry = current.keys.get(key_id)
            if entry is None or entry.tenant != tenant:
                raise NoSuchTenant(f"tenant {tenant} has no key {key_id}")
            keys = {k: v for k, v in current.keys.items() if k != key_id}
            self._commit(dict(current.tenants), keys)
            return entry

    async def aclose(self) -> None:
        return None
