"""The provider's sideband WebSocket for one live call, held with the provider key (the
provider module names its URL: Realtime `.../realtime?call_id=ID`, Live
`.../live/sessions/ID/attach`).

`open(record)` yields the provider's server events; it returns when the provider closes the
socket normally (the call is over), raises `CallGone` when the provider does not know the call
(404 at attach: the call is over too), and `SidebandDropped` when the socket breaks (the call
may still be live: attach again). Never followed to another host, no proxy.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from realtime_gateway.gateway.calls.record import CallRecord
from realtime_gateway.gateway.providers.registry import provider_named

NORMAL_CLOSURE = 1000

OpenSideband = Callable[[CallRecord], AsyncIterator[dict[str, Any]]]


class SidebandDropped(Exception):
    """The socket broke before the provider closed it normally."""


class CallGone(Exception):
    """The provider no longer knows the call (it ended while nobody listened)."""


class AiohttpSidebands:
    """Opens sidebands with the provider key; one pooled session per gateway process."""

    def __init__(self, api_key: str, connect_timeout: float = 10.0) -> None:
        self._api_key = api_key
        self._timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def open(self, record: CallRecord) -> AsyncIterator[dict[str, Any]]:
        provider = provider_named(record.spec.provider)
        try:
            socket = await self._client().ws_connect(
                provider.sideband_url(record),
                headers=provider.auth_headers(self._api_key),
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._timeout),
                max_msg_size=4 * 1024 * 1024,
                heartbeat=20.0,
            )
        except aiohttp.WSServerHandshakeError as error:
            if error.status == 404:
                raise CallGone(f"attach answered {error.status}") from error
            raise SidebandDropped(f"could not attach: {error.status}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SidebandDropped(f"could not attach: {type(error).__name__}") from error
        async with socket:
            async for message in socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    event = _event(message.data)
                    if event is not None:
                        yield event
                elif message.type == aiohttp.WSMsgType.ERROR:
                    break
        if socket.close_code != NORMAL_CLOSURE:
            raise SidebandDropped(f"closed with {socket.close_code}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _event(text: str) -> dict[str, Any] | None:
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None
