"""Tenant keys: fresh random keys and their `sha256:<hex>` form for configuration."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "rtg_"


def new_key() -> str:
    """A key with 256 bits of entropy, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def sha256_hex(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
