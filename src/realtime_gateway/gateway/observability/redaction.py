"""Redaction of log lines by value and by field name: cut to a bound, scrubbed, then cut short.

By value: every configured secret (provider key, tenant keys, JWT secret, metrics token, the
Redis password) and any run of `MIN_RUN` or more of its consecutive characters, wherever it
appears: a provider echoing the key without its `sk-` prefix, or split by a space, loses every
run of 8. By name: a field whose name has a part such as `key`, `token` or `secret`
(`provider_api_key`, `access_token`, `clientSecret`) is logged as `[redacted]`.

A long value (a provider's body may be 1 MiB) is first cut to `SCRUB_WINDOW` characters, so the
event loop never scrubs more than that, then scrubbed, then cut to `MAX_FIELD_CHARS`: a secret
across the last cut is scrubbed before it, and one across the first lies past the second.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from realtime_gateway.gateway.settings import Settings

MIN_RUN = 8
# Shorter secrets are too weak to be worth a partial match; below this, not even a whole one
# (redacting every "ab" would garble every line and protect nothing).
MIN_WHOLE = 4
# Bounds a provider body (up to 1 MiB) in a log line; a traceback fits.
MAX_FIELD_CHARS = 4000
# What is scrubbed of a longer value: the field as logged, and room for scrubbing to shorten it.
SCRUB_WINDOW = MAX_FIELD_CHARS + 1024
TRUNCATED = "...[truncated]"
REDACTED = "[redacted]"
SECRET_NAME_PARTS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "credential",
        "credentials",
        "jwt",
        "key",
        "passphrase",
        "passwd",
        "password",
        "secret",
        "token",
    }
)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NAME_PARTS = re.compile(r"[a-z0-9]+")
_CACHED_LENGTH = 64


# Every log line asks about the same few field names (the audit line on every mint): once each.
@functools.lru_cache(maxsize=1024)
def is_secret_field(name: str) -> bool:
    """`provider_api_key`, `access_token`, `X-Api-Key`, `clientSecret`: yes. `tokens`: no."""
    return any(
        part in SECRET_NAME_PARTS
        for part in _NAME_PARTS.findall(_CAMEL.sub(r"\1_\2", name).lower())
    )


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold in clear."""
    found: list[str] = []
    for secret in (settings.openai_api_key, settings.jwt_secret, settings.metrics_token):
        if secret is not None:
            found.append(secret.get_secret_value())
    for entry in settings.api_keys:
        _, _, key = entry.get_secret_value().partition(":")
        scheme, sep, _ = key.partition(":")
        if not (sep and scheme == "sha256"):  # a digest entry holds no key
            found.append(key)
    for redis_secret in (settings.redis_password, settings.redis_sentinel_password):
        if redis_secret is not None:
            found.append(redis_secret.get_secret_value())
    if settings.redis_url is not None:
        password = urlsplit(settings.redis_url.get_secret_value()).password
        if password:
            found.append(password)
    return found


class Redactor:
    """Scrubs strings, and the values of log fields, of the secrets it was given."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._runs: frozenset[str] = frozenset(
            secret[start : start + MIN_RUN]
            for secret in secrets
            for start in range(len(secret) - MIN_RUN + 1)
        )
        self._whole = tuple(
            sorted({s for s in secrets if MIN_WHOLE <= len(s) < MIN_RUN}, key=len, reverse=True)
        )
        # Log lines repeat the same short values (tenants, models, messages): scrub each once.
        self._scrub_short = functools.lru_cache(maxsize=4096)(self._scrub)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        return cls(configured_secrets(settings))

    def scrub(self, text: str) -> str:
        """`text` with every secret run replaced by `[redacted]`."""
        if len(text) <= _CACHED_LENGTH:
            result: str = self._scrub_short(text)
            return result
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        for secret in self._whole:
            text = text.replace(secret, REDACTED)
        runs = self._runs
        if not runs or len(text) < MIN_RUN:
            return text
        spans: list[list[int]] = []
        for start in range(len(text) - MIN_RUN + 1):
            if text[start : start + MIN_RUN] in runs:
                end = start + MIN_RUN
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = end  # overlapping runs: one longer secret run
                else:
                    spans.append([start, end])
        if not spans:
            return text
        pieces: list[str] = []
        cursor = 0
        for start, end in spans:
            pieces += [text[cursor:start], REDACTED]
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def scrub_value(self, value: Any) -> Any:
        """A log field's value, scrubbed by value and by nested field names, then cut to
        `MAX_FIELD_CHARS` (after scrubbing, so a cut cannot shorten a secret past detection)."""
        kind = type(value)
        if kind is str:  # most fields: tested first, every audit line has a dozen
            return self.scrub_long(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {
                str(key): REDACTED if is_secret_field(str(key)) else self.scrub_value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub_value(item) for item in value]
        return self.scrub_long(value if isinstance(value, str) else str(value))

    def scrub_long(self, text: str) -> str:
        """`text` cut to `SCRUB_WINDOW`, scrubbed, then cut to `MAX_FIELD_CHARS`."""
        if len(text) <= MAX_FIELD_CHARS:
            return self.scrub(text)
        return cut(self.scrub(text[:SCRUB_WINDOW]), force=len(text) > SCRUB_WINDOW)

    def scrub_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        scrubbed = self.scrub_value(fields)
        assert isinstance(scrubbed, dict)
        return scrubbed


def cut(text: str, *, force: bool = False) -> str:
    """`text` at most `MAX_FIELD_CHARS` long, marked when anything was cut (`force`: before)."""
    if len(text) > MAX_FIELD_CHARS or force:
        return text[:MAX_FIELD_CHARS] + TRUNCATED
    return text
