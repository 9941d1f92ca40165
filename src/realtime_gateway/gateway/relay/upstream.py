"""The provider's side of a relayed WebSocket: opened with the provider key on one pooled
aiohttp session per process, never through a proxy, never followed elsewhere, within the
provider timeout. Every failure to open is a `ProviderError` with our own message.

aiohttp's `ws_connect` would follow a redirect (with the key in the headers): a trace hook
refuses it before the request is sent again."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import aiohttp

from realtime_gateway.gateway.errors import ProviderError, ProviderUnavailable

log = logging.getLogger("realtime_gateway.gateway.relay")

# What one provider message may be: a whole reply's audio can come in one delta.
MAX_PROVIDER_MESSAGE = 16 * 1024 * 1024


class RedirectRefused(aiohttp.ClientError):
    """The provider answered the upgrade with a redirect: never followed."""


async def _refuse_redirect(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
) -> None:
    raise RedirectRefused("redirects are not followed")


def _no_redirects() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(_refuse_redirect)
    return trace


class Upstreams:
    def __init__(self, api_key: str, timeout: float, max_sockets: int) -> None:
        self._api_key = api_key
        self._timeout = timeout
        self._max_sockets = max_sockets
        self._session: aiohttp.ClientSession | None = None

    @property
    def api_key(self) -> str:
        return self._api_key

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # One socket per session: the pool's limit is the sessions' (aiohttp's default, 100,
            # would make the 101st session wait for a socket).
            connector = aiohttp.TCPConnector(limit=self._max_sockets, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, trace_configs=[_no_redirects()]
            )
        return self._session

    async def open(
        self, url: str, headers: dict[str, str], label: str
    ) -> aiohttp.ClientWebSocketResponse:
        try:
            return await self._client().ws_connect(
                url,
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._timeout),
                max_msg_size=MAX_PROVIDER_MESSAGE,
                autoping=True,  # no heartbeat of our own: a timer reset on every frame
                compress=0,
            )
        except aiohttp.WSServerHandshakeError as error:
            log.warning(
                "provider refused the WebSocket",
                extra={"provider": label, "status": error.status},
            )
            if error.status >= 500:
                raise ProviderUnavailable(f"{label} returned {error.status}") from None
            raise ProviderError(f"{label} refused the session ({error.status})") from None
        except RedirectRefused:
            log.warning("provider redirected the WebSocket", extra={"provider": label})
            raise ProviderError(f"{label} redirected (redirects are not followed)") from None
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning(
                "provider WebSocket unreachable",
                extra={"provider": label, "error": type(error).__name__},
            )
            raise ProviderUnavailable(f"{label} could not be reached") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
