"""One relayed WebSocket session: the client's socket and the provider's, two pumps between
them, and the session's one end.

    client ──text──▶ parse, size cap, pins (session_policy) ──▶ provider
    client ◀──────── as it came; `response.done` read for usage ◀── provider

Frames from the provider are passed on as they are; only those that may be `response.done`
(the text contains it) are parsed, for the usage the ledger keeps. Frames from the client are
parsed (a `session.update` is held to the tenant's pins; a frame that is not a JSON event gets
an `error` event and goes nowhere).

Bounded: the client's socket buffers what uvicorn's transport holds before it stops taking
writes; the pump then waits, and so stops reading the provider (whose socket applies TCP's
backpressure). A client that has not taken a frame for `stall_seconds` is closed (1008); no
other session waits for it.

The session ends once, by whichever comes first: the client closes (`caller_hangup`), the
provider closes (`provider_closed`), the leash ends it here (`close`, from the reaper through
`Calls.close_session`: the client gets an `error` event whose `code` is the reason), or the
store says it ended elsewhere (another replica's reaper, an operator). The relay counts the
ends it decides; an end decided elsewhere was counted by whoever decided it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from starlette.websockets import WebSocket, WebSocketDisconnect

from realtime_gateway.gateway.calls.record import CallRecord, EndedReason
from realtime_gateway.gateway.calls.service import Calls
from realtime_gateway.gateway.calls.store import CallStore, StoreUnavailable
from realtime_gateway.gateway.providers.protocol import Provider
from realtime_gateway.gateway.relay.session_policy import (
    SessionRules,
    check_client_event,
    error_event,
)
from realtime_gateway.gateway.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger("realtime_gateway.gateway.relay")

NORMAL = 1000
GOING_AWAY = 1001
UNSUPPORTED = 1003
POLICY = 1008  # the client stopped reading
TOO_BIG = 1009
INTERNAL = 1011
SERVICE_RESTART = 1012  # uvicorn closes sessions with it as the server stops

POLL_SECONDS = 1.0  # how often a session asks the store whether it ended elsewhere
STALL_SECONDS = 10.0
FLUSH_SECONDS = 2.0  # how long the last event and the close frame may take


@dataclass(frozen=True)
class Ending:
    reason: EndedReason
    client_code: int = NORMAL
    notify: bool = False  # send the client an `error` event whose code is the reason
    count: bool = True  # this relay counts the end (False: whoever decided it did)
    message: str = ""


LEASH_MESSAGES: dict[str, str] = {
    "max_duration": "the session reached its maximum length",
    "quota_exceeded": "the tenant's daily audio budget is spent",
    "gateway_hangup": "the gateway ended the session",
    "caller_hangup": "the session was hung up",
    "provider_closed": "the provider ended the session",
}


@dataclass(frozen=True)
class RelayLimits:
    max_frame_bytes: int
    stall_seconds: float = STALL_SECONDS
    poll_seconds: float = POLL_SECONDS


class RelaySession:
    """A session that is live: recorded in the store, held by this process."""

    def __init__(
        self,
        *,
        client: WebSocket,
        upstream: aiohttp.ClientWebSocketResponse,
        record: CallRecord,
        store: CallStore,
        calls: Calls,
        provider: Provider,
        rules: SessionRules,
        limits: RelayLimits,
        owns_call: bool = True,
    ) -> None:
        """`owns_call` False: a tenant's sideband of a call held elsewhere (no usage read,
        no end counted: the call's holder does both)."""
        self.client = client
        self.upstream = upstream
        self.record = record
        self.store = store
        self.calls = calls
        self.provider = provider
        self.rules = rules
        self.limits = limits
        self.owns_call = owns_call
        self._ending: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()
        self._closed = asyncio.Event()
        self._sending_since: float | None = None
        self._client_send = asyncio.Lock()

    @property
    def call_id(self) -> str:
        return self.record.call_id

    # -- the end ------------------------------------------------------------------------

    def end(self, ending: Ending) -> None:
        """Ask for the end (the first one asked wins)."""
        if not self._ending.done():
            self._ending.set_result(ending)

    async def close(self, reason: EndedReason) -> None:
        """The leash ends the session here: the client is told why; the caller counts it."""
        self.end(Ending(reason, notify=True, count=False))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2 * FLUSH_SECONDS + 1):
                await self._closed.wait()

    # -- running ------------------------------------------------------------------------

    async def run(self, first_events: list[str]) -> None:
        """Relay until the end; then close both sides and count the end (once)."""
        try:
            for text in first_events:
                await self.client.send_text(text)
        except Exception:
            self.end(Ending("caller_hangup"))
        pumps = [
            asyncio.create_task(self._client_to_provider(), name=f"relay-up-{self.call_id}"),
            asyncio.create_task(self._provider_to_client(), name=f"relay-down-{self.call_id}"),
            asyncio.create_task(self._watch(), name=f"relay-watch-{self.call_id}"),
        ]
        try:
            ending = await asyncio.shield(self._ending)
        except asyncio.CancelledError:
            ending = Ending("gateway_hangup")
            self.end(ending)
            raise
        finally:
            await cancel_and_wait(*pumps)
            ending = self._ending.result()
            await self._finish(ending)

    async def _finish(self, ending: Ending) -> None:
        try:
            await self._close_sides(ending)
            if ending.count and self.owns_call:
                try:
                    await self.calls.count_end(self.store, self.record, ending.reason)
                except StoreUnavailable:
                    # The record stays live: its holder's beats stop being about it only when
                    # this process stops; a reaper ends it by its deadline at the latest.
                    log.warning("relay: could not record the end", extra={"call_id": self.call_id})
            log.info(
                "websocket session ended",
                extra={"call_id": self.call_id, "tenant": self.record.tenant,
                       "reason": ending.reason},
            )  # fmt: skip
        finally:
            self._closed.set()

    async def _close_sides(self, ending: Ending) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(FLUSH_SECONDS):
                await self.upstream.close(code=NORMAL)
        if ending.notify:
            message = ending.message or LEASH_MESSAGES.get(ending.reason, ending.reason)
            text = json.dumps(error_event(message, ending.reason))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self.client.send_text(text)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(FLUSH_SECONDS):
                await self.client.close(ending.client_code, ending.message[:120] or None)

    # -- the pumps ----------------------------------------------------------------------

    async def _client_to_provider(self) -> None:
        receive = self.client.receive
        upstream = self.upstream
        limit = self.limits.max_frame_bytes
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    code = message.get("code", NORMAL)
                    reason: EndedReason = (
                        "gateway_hangup" if code == SERVICE_RESTART else "caller_hangup"
                    )
                    self.end(Ending(reason, count=True))
                    return
                text = message.get("text")
                if text is None:
                    data = message.get("bytes") or b""
                    if len(data) > limit:
                        self._too_big()
                        return
                    await self._refuse_frame("binary frames are not events; send JSON text")
                    continue
                if len(text) > limit:
                    self._too_big()
                    return
                try:
                    event = json.loads(text)
                except ValueError:
                    event = None
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    await self._refuse_frame("the frame is not a JSON object with a type")
                    continue
                if event["type"] == "session.update":
                    allowed, refusal = check_client_event(event, self.rules)
                    if refusal is not None:
                        await self._send_client(json.dumps(refusal))
                        continue
                    if allowed is not event:
                        text = json.dumps(allowed)
                await upstream.send_str(text)
        except WebSocketDisconnect:
            self.end(Ending("caller_hangup"))
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            # The provider's socket is closing: the other pump says how it ended.
            await asyncio.sleep(FLUSH_SECONDS)
            self.end(Ending("provider_closed", client_code=INTERNAL))

    def _too_big(self) -> None:
        limit = self.limits.max_frame_bytes
        self.end(
            Ending(
                "gateway_hangup",
                client_code=TOO_BIG,
                message=f"a frame is larger than {limit} bytes",
            )
        )

    async def _refuse_frame(self, message: str) -> None:
        await self._send_client(json.dumps(error_event(message, "invalid_json")))

    async def _send_client(self, text: str) -> None:
        # One writer at a time on the client's socket: the other pump may be mid-send.
        async with self._client_send:
            await self.client.send_text(text)

    async def _provider_to_client(self) -> None:
        upstream = self.upstream
        send = self.client.send_text
        lock = self._client_send
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await upstream.receive()
                kind = message.type
                if kind is aiohttp.WSMsgType.TEXT:
                    text: str = message.data
                    if self.owns_call and "response.done" in text:
                        await self._usage(text)
                    self._sending_since = loop.time()
                    async with lock:
                        await send(text)
                    self._sending_since = None
                elif kind is aiohttp.WSMsgType.BINARY:
                    continue  # OpenAI's events are text
                else:  # CLOSE, CLOSING, CLOSED, ERROR
                    code = upstream.close_code
                    normal = code in (NORMAL, GOING_AWAY)
                    self.end(Ending("provider_closed", client_code=NORMAL if normal else INTERNAL))
                    return
        except Exception as error:  # the client's socket went away mid-send
            log.debug("relay: client send failed", extra={"error": type(error).__name__})
            self.end(Ending("caller_hangup"))

    async def _usage(self, text: str) -> None:
        try:
            event: Any = json.loads(text)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        usage = self.provider.usage_of(event)
        if usage is None:
            return
        try:
            await self.store.add_usage(self.record.tenant, self.call_id, usage)
        except StoreUnavailable:
            log.warning("relay: usage not recorded", extra={"call_id": self.call_id})

    async def _watch(self) -> None:
        """Once a poll: a client that stopped reading is closed; an end decided elsewhere (the
        store says the call is no longer live) closes the session."""
        loop = asyncio.get_running_loop()
        limits = self.limits
        while not cancel_requested():
            await asyncio.sleep(limits.poll_seconds)
            since = self._sending_since
            if since is not None and loop.time() - since > limits.stall_seconds:
                log.warning("relay: the client stopped reading", extra={"call_id": self.call_id})
                self.end(
                    Ending(
                        "gateway_hangup",
                        client_code=POLICY,
                        message="the client did not read its events",
                    )
                )
                return
            try:
                latest = await self.store.get(self.record.tenant, self.call_id)
            except StoreUnavailable:
                continue
            if latest is None or latest.state == "ended":
                reason: EndedReason = (
                    latest.ended_reason if latest and latest.ended_reason else "gateway_hangup"
                )
                self.end(Ending(reason, notify=True, count=False))
                return
