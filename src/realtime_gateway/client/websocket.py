"""One Realtime WebSocket session, as `realtime-gateway connect --transport websocket` runs it.

`open_session(base_url, api_key, model)` opens `<base_url>/v1/realtime?model=M` with
`Authorization: Bearer <api key>` (a tenant key, which the gateway relays; the stub takes its
provider key on the same wire). Events travel as JSON text frames both ways; the reply's audio
is collected from `response.output_audio.delta` events (PCM16 24 kHz mono). A refused upgrade
raises the `GatewayClientError` of its `error_code`, as a refused mint does.

Bounded like `call.Call`: the latest `max_events` events, a count per type, and the first
`max_audio_seconds` of audio (later audio is counted, not kept).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from realtime_gateway.client.errors import (
    _ERRORS_BY_CODE,
    GatewayClientError,
    GatewayUnreachableError,
    InvalidRequestError,
    RateLimitedError,
    UnauthorizedError,
    UnexpectedResponseError,
)
from realtime_gateway.client.http import parse_retry_after
from realtime_gateway.client.limits import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_EVENTS
from realtime_gateway.reasons import describe

PCM_RATE = 24_000  # the Realtime WebSocket's audio/pcm
PCM_FRAME_BYTES = PCM_RATE // 50 * 2  # 20 ms, 16-bit mono
MAX_FRAME_BYTES = 16 * 1024 * 1024  # a server event larger than this closes the session (1009)
DEFAULT_TIMEOUT = 10.0
_REDACTED = "[redacted]"
_STATUS_ERRORS: dict[int, type[GatewayClientError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
}


def realtime_url(base_url: str, model: str) -> str:
    """`http(s)://host[/prefix]` -> `ws(s)://host[/prefix]/v1/realtime?model=M`."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise InvalidRequestError(f"not an http(s) URL: {base_url!r}")
    query = urlencode({"model": model})
    return urlunsplit((scheme, parts.netloc, parts.path + "/v1/realtime", query, ""))


def refusal_error(status: int, body: bytes, retry_after: str | None) -> GatewayClientError:
    """The typed error of a refused upgrade. The gateway's `/v1` answers OpenAI's error shape
    with its `error_code` as `code`; the stub (or OpenAI) names its own codes
    (`invalid_api_key`), read by their status."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    found = parsed.get("error") if isinstance(parsed, dict) else None
    error: dict[str, Any] = found if isinstance(found, dict) else parsed or {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") or error.get("error_code")
    message = str(error.get("message") or f"the upgrade was refused with HTTP {status}")
    if code == RateLimitedError.error_code:
        return RateLimitedError(message, status=status, retry_after=parse_retry_after(retry_after))
    cls = _ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
    cls = cls or _STATUS_ERRORS.get(status)
    if cls is None:
        named = code if isinstance(code, str) and code else "unexpected_response"
        return UnexpectedResponseError(message, status=status, error_code=named)
    return cls(message, status=status)


class RealtimeSession:
    """An open session: `send_event`, `events()`, `audio()`; `close()` when done."""

    def __init__(
        self,
        connection: ClientConnection,
        secrets: list[str],
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
        started_at: float | None = None,
    ) -> None:
        self._connection = connection
        self._secrets = [secret for secret in secrets if secret]
        self.started_at = started_at if started_at is not None else time.monotonic()
        self.connected_after = time.monotonic() - self.started_at
        self.first_audio_after: float | None = None
        self.received_events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.event_counts: Counter[str] = Counter()
        self.events_dropped = 0
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=max_events)
        self._arrived = asyncio.Event()
        self._audio = bytearray()
        self._max_audio_bytes = int(max_audio_seconds * PCM_RATE) * 2
        self._audio_bytes_received = 0
        # Why the server closed the session, when it did (`close_code`, `close_reason`).
        self.closed_by_server = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._closing = False
        self._reader = asyncio.ensure_future(self._read())

    # -- incoming -------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for message in self._connection:
                text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
                self._on_message(text)
        except ConnectionClosed:
            pass  # how it closed is read below
        finally:
            self.closed_by_server = not self._closing
            received = self._connection.protocol.close_rcvd
            if received is not None:
                self.close_code, self.close_reason = received.code, received.reason
            else:  # the connection dropped without a close frame
                self.close_code = self._connection.close_code
            self.closed.set()
            self._enqueue(None)

    def _on_message(self, text: str) -> None:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        try:
            event = json.loads(text)
        except ValueError:
            event = {"type": "client.unparsed", "text": text[:200]}
        if not isinstance(event, dict):
            event = {"type": "client.unparsed", "value": event}
        kind = str(event.get("type"))
        if kind == "response.output_audio.delta":
            event = self._take_audio(event)
        self.received_events.append(event)
        self.event_counts[kind] += 1
        self._arrived.set()
        self._enqueue(event)

    def _take_audio(self, event: dict[str, Any]) -> dict[str, Any]:
        """Keep the delta's audio; the event goes on with its size in place of its base64."""
        delta = event.get("delta")
        try:
            pcm = base64.b64decode(delta, validate=True) if isinstance(delta, str) else b""
        except (binascii.Error, ValueError):
            pcm = b""
        self._audio_bytes_received += len(pcm)
        room = self._max_audio_bytes - len(self._audio)
        if room > 0:
            self._audio += pcm[:room]
        if self.first_audio_after is None and any(pcm):
            self.first_audio_after = time.monotonic() - self.started_at
        shown = {key: value for key, value in event.items() if key != "delta"}
        shown["delta_bytes"] = len(pcm)
        return shown

    def _enqueue(self, item: dict[str, Any] | None) -> None:
        if self._queue.full():  # nobody reads `events()` fast enough: drop the oldest
            self._queue.get_nowait()
            self.events_dropped += 1
        self._queue.put_nowait(item)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Server events as they arrive (one consumer), audio deltas without their audio
        (`delta_bytes` says how much there was), until the session closes."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def wait_for_event(self, event_type: str, timeout: float) -> dict[str, Any]:
        """The first event of this type among the latest kept (already, or within `timeout`);
        TimeoutError, or ConnectionError when the session closes first."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.received_events if e.get("type") == event_type), None)
            if found is not None:
                return found
            if self.closed.is_set():
                raise ConnectionError(f"the session closed before {event_type}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event_type} within {timeout:g} s")
            self._arrived.clear()
            waiters = {asyncio.ensure_future(self._arrived.wait())}
            waiters.add(asyncio.ensure_future(self.closed.wait()))
            _, pending = await asyncio.wait(
                waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()

    def audio(self) -> bytes:
        """The audio received so far, up to `max_audio_seconds`: PCM16 24 kHz mono."""
        return bytes(self._audio)

    @property
    def seconds_received(self) -> float:
        """All the audio received, kept or not."""
        return self._audio_bytes_received / 2 / PCM_RATE

    # -- outgoing and closing -------------------------------------------------------------------

    async def send_event(self, event: dict[str, Any]) -> bool:
        """Send a client event; False (and nothing sent) once the session has closed."""
        if self.closed.is_set():
            return False
        try:
            await self._connection.send(json.dumps(event))
        except ConnectionClosed:
            return False
        return True

    async def append_audio(self, pcm: bytes) -> bool:
        """`input_audio_buffer.append` of PCM16 24 kHz mono."""
        audio = base64.b64encode(pcm).decode("ascii")
        return await self.send_event({"type": "input_audio_buffer.append", "audio": audio})

    async def close(self) -> None:
        if not self.closed.is_set():
            self._closing = True
        await self._connection.close()
        await asyncio.gather(self._reader, return_exceptions=True)


@asynccontextmanager
async def open_session(
    base_url: str,
    api_key: str,
    model: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_events: int = DEFAULT_MAX_EVENTS,
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
) -> AsyncIterator[RealtimeSession]:
    """Open the session (the upgrade within `timeout`), yield it, close it."""
    url = realtime_url(base_url, model)
    origin = urlunsplit(urlsplit(url)[:2] + ("", "", ""))
    started = time.monotonic()
    try:
        connection = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {api_key}"},
            open_timeout=timeout,
            max_size=MAX_FRAME_BYTES,
            compression=None,  # base64 audio hardly compresses; deflate would only cost CPU
        )
    except InvalidStatus as refused:
        response = refused.response
        raise refusal_error(
            response.status_code, bytes(response.body or b""), response.headers.get("Retry-After")
        ) from None
    except (TimeoutError, OSError) as error:
        raise GatewayUnreachableError(
            f"could not open a WebSocket to {origin}: {describe(error)}"
        ) from error
    except (InvalidHandshake, InvalidURI) as error:
        raise UnexpectedResponseError(
            f"the WebSocket upgrade at {origin} failed: {type(error).__name__}"
        ) from error
    session = RealtimeSession(
        connection,
        [api_key],
        max_events=max_events,
        max_audio_seconds=max_audio_seconds,
        started_at=started,
    )
    try:
        yield session
    finally:
        await session.close()
