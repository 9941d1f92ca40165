"""One live call with the provider, as `GatewayClient.connect` opens it: the aiortc peer, the
`oai-events` channel (provider events in, client events out) and the received audio.

A call may last hours, so what it keeps is bounded: the latest `max_events` events (and the
first of each type, for `wait_for_event`), a count per event type, and the first
`max_audio_seconds` of audio (later audio is counted, not kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from typing import Any, Protocol

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from realtime_gateway.client.errors import GatewayClientError, IceTimeoutError
from realtime_gateway.client.limits import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_EVENTS
from realtime_gateway.client.models import Session
from realtime_gateway.media import ice
from realtime_gateway.media.audio import Samples, dbfs
from realtime_gateway.media.resampling import FrameConverter, PacedAudioTrack
from realtime_gateway.media.tracks import SAMPLE_RATE

EVENTS_CHANNEL = "oai-events"
AUDIBLE_DBFS = -50.0  # a received frame louder than this counts as "first audio"
_REDACTED = "[redacted]"
MAX_EVENT_TYPES = 256  # the first event of at most this many types is kept for wait_for_event
CALL_TOKEN_PREFIX = "ek_rtg_"  # a gateway call token: the call is brokered by the gateway


class Offers(Protocol):
    """What a call needs of the client that makes it (`GatewayClient`): a session, the offer
    posted, and a brokered call's end."""

    async def create_session(
        self, model: str, voice: str, endpoint: str | None = None
    ) -> Session: ...

    async def post_offer_located(
        self, session: Session, offer_sdp: str
    ) -> tuple[str, str | None]: ...

    async def end_call(self, call_url: str, token: str) -> dict[str, Any] | None: ...


class Call:
    """A connected call. Read `events()`, `audio()`; `send_event(...)`; `close()` when done."""

    def __init__(
        self,
        client: Offers,
        input_samples: Samples | None = None,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
    ) -> None:
        self._client = client
        self.session: Session | None = None
        # The latest events; `event_counts` counts every one, kept or not.
        self.received_events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.event_counts: Counter[str] = Counter()
        self.events_dropped = 0  # events `events()` never yielded: its queue was full
        self._first_of_type: dict[str, dict[str, Any]] = {}
        self._event_arrived = asyncio.Event()
        self.started_at = time.monotonic()
        self.connected_after: float | None = None
        self.first_audio_after: float | None = None
        self.input_track = PacedAudioTrack(input_samples)
        # No ICE servers: nothing but the provider's own candidates is ever contacted.
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._channel: Any = None
        self._channel_open = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=max_events)
        self._chunks: list[Samples] = []
        self._max_audio_samples = int(max_audio_seconds * SAMPLE_RATE)
        self._samples_kept = 0
        self._samples_received = 0
        self._secrets: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # A brokered call's (gateway URL, call token); its view once ended (`ended_reason`, usage).
        self._brokered: tuple[str, str] | None = None
        self.ended_view: dict[str, Any] | None = None

    # -- setting up -----------------------------------------------------------------------------

    async def start(self, model: str, voice: str, endpoint: str | None, ice_timeout: float) -> None:
        pc = self._pc
        pc.addTrack(self.input_track)
        self._channel = pc.createDataChannel(EVENTS_CHANNEL)
        self._channel.on("open", self._channel_open.set)
        self._channel.on("message", self._on_message)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._state_changed.set)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self._negotiate(model, voice, endpoint, pc.localDescription.sdp)
        if ice.loopback_only_enabled():
            answer = ice.keep_loopback_candidates(answer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await self._wait_connected(ice_timeout)
        self.connected_after = time.monotonic() - self.started_at

    async def _negotiate(self, model: str, voice: str, endpoint: str | None, offer: str) -> str:
        # A fresh secret for every SDP post; a 401 there (the provider's, or a brokered gateway's
        # for its call token) means it expired: mint once more.
        for attempt in (1, 2):
            session = await self._client.create_session(model, voice, endpoint)
            self.session = session
            self._secrets.append(session.client_secret.value)
            try:
                answer, call_url = await self._client.post_offer_located(session, offer)
            except GatewayClientError as error:
                if error.status != 401 or attempt == 2:
                    raise
            else:
                token = session.client_secret.value
                if call_url is not None and token.startswith(CALL_TOKEN_PREFIX):
                    self._brokered = (call_url, token)
                return answer
        raise AssertionError("unreachable")

    async def _wait_connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._pc.connectionState != "connected":
            if self._pc.connectionState in ("failed", "closed"):
                break
            self._state_changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_changed.wait(), remaining)
        else:
            return
        raise IceTimeoutError(
            f"not connected within {timeout:g} s (ICE {self._pc.iceConnectionState}, "
            f"connection {self._pc.connectionState})"
        )

    # -- incoming -------------------------------------------------------------------------------

    def _on_message(self, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        try:
            event = json.loads(text)
        except ValueError:
            event = {"type": "client.unparsed", "text": text[:200]}
        if not isinstance(event, dict):
            event = {"type": "client.unparsed", "value": event}
        self.received_events.append(event)
        kind = str(event.get("type"))
        self.event_counts[kind] += 1
        if kind not in self._first_of_type and len(self._first_of_type) < MAX_EVENT_TYPES:
            self._first_of_type[kind] = event
        self._event_arrived.set()
        self._enqueue(event)

    def _enqueue(self, item: dict[str, Any] | None) -> None:
        if self._queue.full():  # nobody reads `events()` fast enough: drop the oldest
            self._queue.get_nowait()
            self.events_dropped += 1
        self._queue.put_nowait(item)

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            task = asyncio.ensure_future(self._receive(track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _receive(self, track: Any) -> None:
        converter = FrameConverter()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            samples = converter.convert(frame)
            self._keep(samples)
            if self.first_audio_after is None and dbfs(samples) > AUDIBLE_DBFS:
                self.first_audio_after = time.monotonic() - self.started_at

    def _keep(self, samples: Samples) -> None:
        self._samples_received += samples.size
        room = self._max_audio_samples - self._samples_kept
        if room > 0:
            kept = samples[:room]
            self._chunks.append(kept)
            self._samples_kept += kept.size

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Provider events as they arrive (one consumer), until the call closes."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def wait_for_event(self, event_type: str, timeout: float) -> dict[str, Any]:
        """The first event of this type received (already or within `timeout`); TimeoutError."""
        deadline = time.monotonic() + timeout
        while (event := self._find(event_type)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event_type} within {timeout:g} s")
            self._event_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_arrived.wait(), remaining)
        return event

    def _find(self, event_type: str) -> dict[str, Any] | None:
        first = self._first_of_type.get(event_type)
        if first is not None or len(self._first_of_type) < MAX_EVENT_TYPES:
            return first
        # Past MAX_EVENT_TYPES types, only the latest events can still hold it.
        return next((e for e in self.received_events if e.get("type") == event_type), None)

    def audio(self) -> Samples:
        """The audio received so far, up to `max_audio_seconds`, int16 mono 48 kHz."""
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)

    @property
    def seconds_received(self) -> float:
        """All the audio received, kept or not."""
        return self._samples_received / SAMPLE_RATE

    # -- outgoing and closing -------------------------------------------------------------------

    async def send_event(self, event: dict[str, Any], timeout: float = 5.0) -> None:
        """Send a client event (e.g. `{"type": "response.create"}`) once the channel is open."""
        try:
            await asyncio.wait_for(self._channel_open.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{EVENTS_CHANNEL} did not open within {timeout:g} s") from None
        self._channel.send(json.dumps(event))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._brokered is not None:  # a brokered call: end it at the gateway, read why
            self.ended_view = await self._client.end_call(*self._brokered)
        self.input_track.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pc.close(), 5.0)
        self._enqueue(None)
