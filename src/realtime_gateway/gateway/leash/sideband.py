"""The provider's sideband WebSocket for one brokered call, held with the provider key:
Realtime `wss://.../v1/realtime?call_id=ID`, Live `wss://.../v1/live/sessions/ID/attach`.

`open_sideband(record)` yields the provider's server events; it returns when the provider
closes the socket normally (the call is over) and raises `SidebandDropped` when the socket
breaks (the call may still be live: attach again). Never followed to another host, no proxy.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from realtime_gateway.gateway.calls.records import CallRecord
from realtime_gateway.gateway.providers.openai import auth_headers

NORMAL_CLOSURE = 1000
REALTIME_CALLS_SUFFIX = "/realtime/calls"

OpenSideband = Callable[[CallRecord], AsyncIterator[dict[str, Any]]]


class SidebandDropped(Exception):
    """The socket broke before the provider closed it normally."""


def sideband_url(record: CallRecord) -> str:
    parts = urlsplit(record.upstream_endpoint)
    scheme = {"https": "wss", "http": "ws"}[parts.scheme]
    path = parts.path.rstrip("/")
    call = quote(record.provider_call_id, safe="")
    if record.wire == "live":
        return urlunsplit((scheme, parts.netloc, f"{path}/{call}/attach", "", ""))
    base = path.removesuffix(REALTIME_CALLS_SUFFIX) + "/realtime"
    return urlunsplit((scheme, parts.netloc, base, f"call_id={call}", ""))


class AiohttpSidebands:
    """Opens sidebands with the provider key; one pooled session per gateway."""

    def __init__(self, api_key: str, connect_timeout: float = 10.0) -> None:
        self._api_key = api_key
        self._timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def open(self, record: CallRecord) -> AsyncIterator[dict[str, Any]]:
        url = sideband_url(record)
        headers = auth_headers(record.upstream_endpoint, self._api_key)
        try:
            socket = await self._client().ws_connect(
                url,
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._timeout),
                max_msg_size=4 * 1024 * 1024,
                heartbeat=20.0,
            )
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
