"""What every provider adapter shares: the minted session, and the one guarded upstream call.

`post_json` is the only place the provider key leaves the process: redirects are never
followed, the timeout is enforced, and every failure becomes a `ProviderError` whose message
is ours. The provider's raw body goes to the log, redacted, never to the caller.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol

from realtime_gateway.gateway.errors import ProviderError, ProviderUnavailable
from realtime_gateway.gateway.observability.redaction import SCRUB_WINDOW, cut
from realtime_gateway.gateway.providers.transport import (
    Transport,
    UpstreamTimeout,
    UpstreamUnreachable,
)

log = logging.getLogger("realtime_gateway.provider")

# Whole keys and secrets, OpenAI's masked echoes of them (`sk-...abcd`), and any long token.
SECRET_LIKE = re.compile(r"\b(?:sk|ek|rk)[-_][^\s\"',]*|\b[A-Za-z0-9_\-]{32,}\b")
# A token the first cut went through: its head could be too short for SECRET_LIKE to know.
_CUT_TOKEN = re.compile(r"[A-Za-z0-9_\-]+\Z")


@dataclass(frozen=True)
class MintedSession:
    id: str
    model: str
    voice: str
    expires_at: datetime
    client_secret: str = field(repr=False)
    client_secret_expires_at: datetime
    webrtc_url: str

    def to_response(self) -> dict[str, Any]:
        return {
            "session": {
                "id": self.id,
                "model": self.model,
                "voice": self.voice,
                "expires_at": iso_utc(self.expires_at),
                "client_secret": {
                    "value": self.client_secret,
                    "expires_at": iso_utc(self.client_secret_expires_at),
                },
                "webrtc_url": self.webrtc_url,
            }
        }


@dataclass(frozen=True)
class MintRequest:
    endpoint: str
    model: str
    voice: str
    api_key: str = field(repr=False)
    secret_ttl: int
    timeout: float


class ProviderAdapter(Protocol):
    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession: ...


def iso_utc(moment: datetime) -> str:
    """`2025-10-09T18:00:00Z`. On the hot path: isoformat is several times cheaper than strftime."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def from_unix(value: object, what: str, provider: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(provider, f"{what} is not a timestamp")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise malformed(provider, f"{what} is out of range") from error


def malformed(provider: str, detail: str) -> ProviderError:
    log.warning("malformed provider answer", extra={"provider": provider, "detail": detail})
    return ProviderError(f"{provider} answered a malformed session ({detail})")


def redact(body: str | bytes) -> str:
    """A provider body for the log: cut to `SCRUB_WINDOW` characters first (a body may be
    1 MiB, and scrubbing it whole cost about 230 ms of event loop), then anything secret-like
    dropped (provider bodies can echo key fragments), then cut to the field bound. The log
    formatter then scrubs the configured secrets by value."""
    if isinstance(body, bytes):
        longer = len(body) > SCRUB_WINDOW
        text = body[:SCRUB_WINDOW].decode("utf-8", errors="replace")
    else:
        longer = len(body) > SCRUB_WINDOW
        text = body[:SCRUB_WINDOW]
    if longer:
        text = _CUT_TOKEN.sub("", text)
    return cut(SECRET_LIKE.sub("[redacted]", text), force=longer)


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"


async def post_json(
    transport: Transport,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: float,
    provider: str,
) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = await transport.post_json(
            url, headers=headers, body=json.dumps(body).encode(), timeout=timeout
        )
    except UpstreamTimeout as error:
        raise ProviderUnavailable(f"{provider} did not answer within {timeout:g} s") from error
    except UpstreamUnreachable as error:
        log.warning("provider unreachable", extra={"provider": provider, "error": str(error)})
        raise ProviderUnavailable(f"{provider} could not be reached") from error
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not 200 <= response.status < 300:
        log.warning(
            "provider refused",
            extra={
                "provider": provider,
                "status": response.status,
                "body": redact(response.body),
                "provider_ms": round(elapsed_ms, 1),
            },
        )
        message = f"{provider} returned {response.status} {reason_phrase(response.status)}"
        if response.status == 429:
            message += " (the provider's own rate limit, not this gateway's)"
        elif 300 <= response.status < 400:
            message += " (redirects are not followed)"
        raise (ProviderUnavailable if response.status >= 500 else ProviderError)(message)
    try:
        answer = json.loads(response.body)
    except ValueError as error:  # not JSON, not UTF-8, or absurd numbers
        log.warning(
            "provider answered non-JSON",
            extra={"provider": provider, "body": redact(response.body)},
        )
        raise ProviderError(f"{provider} answered a malformed session (not JSON)") from error
    if not isinstance(answer, dict):
        raise malformed(provider, "not a JSON object")
    return answer


def require_str(container: dict[str, Any], key: str, provider: str, where: str = "") -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise malformed(provider, f"no {where}{key}")
    return value


def require_dict(container: dict[str, Any], key: str, provider: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise malformed(provider, f"no {key} object")
    return value
