"""Async client for automations: mint a session at the gateway (`create_session`), post the SDP
offer (`post_offer`), or run the whole WebRTC call through aiortc (`connect`, needs the `media`
extra). Errors are typed per `error_code` (see `errors`)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from realtime_gateway.client.errors import (
    _ERRORS_BY_CODE,
    GatewayClientError,
    GatewayUnreachableError,
    SdpRefusedError,
    UnexpectedResponseError,
)
from realtime_gateway.client.limits import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_EVENTS
from realtime_gateway.client.models import Session, parse_session
from realtime_gateway.reasons import describe

if TYPE_CHECKING:
    from realtime_gateway.client.call import Call
    from realtime_gateway.media.audio import Samples

DEFAULT_TIMEOUT = 10.0
DEFAULT_ICE_TIMEOUT = 10.0


def parse_retry_after(value: str | None) -> int | None:
    """`Retry-After` as whole seconds: delta-seconds, or an HTTP date counted from now."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - time.time() + 0.999))


def _origin(url: str) -> str:
    # The provider's URL may carry the model in its query; the origin is what a reader needs.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def gateway_error_body(response: httpx.Response) -> tuple[str, str] | None:
    """The documented `{error_code, message}` of an answer, if that is what it carries."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("error_code"), str):
        return None
    return body["error_code"], str(body.get("message", ""))


def error_from_response(response: httpx.Response) -> GatewayClientError:
    """The typed error for a non-2xx gateway answer: its `error_code`, message and
    `Retry-After` kept."""
    status = response.status_code
    documented = gateway_error_body(response)
    if documented is None:
        return UnexpectedResponseError(
            f"gateway answered {status} without the documented error body", status=status
        )
    code, message = documented
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cls = _ERRORS_BY_CODE.get(code)
    if cls is None:
        return UnexpectedResponseError(
            message, status=status, error_code=code, retry_after=retry_after
        )
    return cls(message, status=status, retry_after=retry_after)


class GatewayClient:
    """Talks to one gateway as one tenant. Pass `http` to share a pool (it is then not closed)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    def __repr__(self) -> str:
        return f"GatewayClient({self.base_url!r})"

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def create_session(self, model: str, voice: str, endpoint: str | None = None) -> Session:
        """Mint a fresh session; raises the `GatewayClientError` subclass of the answer's code."""
        body: dict[str, str] = {"model": model, "voice": voice}
        if endpoint is not None:
            body["endpoint"] = endpoint
        try:
            response = await self._http.post(
                f"{self.base_url}/realtime_session",
                json=body,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as error:
            raise GatewayUnreachableError(
                f"gateway at {self.base_url} did not answer within {self._timeout:g} s "
                f"({describe(error)})"
            ) from error
        except httpx.HTTPError as error:
            raise GatewayUnreachableError(
                f"could not reach the gateway at {self.base_url}: {describe(error)}"
            ) from error
        if response.status_code != 200:
            raise error_from_response(response)
        try:
            return parse_session(response.json())
        except ValueError as error:
            raise UnexpectedResponseError(
                f"gateway answered 200 with a malformed session ({error})", status=200
            ) from error

    async def post_offer(self, session: Session, offer_sdp: str) -> str:
        """POST the SDP offer to the provider with the session's secret; the answer SDP."""
        answer, _ = await self.post_offer_located(session, offer_sdp)
        return answer

    async def post_offer_located(self, session: Session, offer_sdp: str) -> tuple[str, str | None]:
        """As `post_offer`, with the absolute URL of the call the answer's `Location` names (a
        brokered call at the gateway, which its call token may read and end), if any.

        A refusal in the gateway's documented body (brokered mode: `too_many_calls`,
        `quota_exceeded`, `calls_unavailable`, `unauthorized`, ...) raises the error of its
        code; any other refusal, the provider's, raises `SdpRefusedError`."""
        try:
            response = await self._http.post(
                session.webrtc_url,
                content=offer_sdp.encode(),
                headers={
                    "Authorization": f"Bearer {session.client_secret.value}",
                    "Content-Type": "application/sdp",
                },
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as error:
            raise SdpRefusedError(
                f"could not post the offer to {_origin(session.webrtc_url)}: {describe(error)}"
            ) from error
        if response.status_code not in (200, 201):
            if gateway_error_body(response) is not None:
                raise error_from_response(response)
            raise SdpRefusedError(
                f"provider answered the offer with {response.status_code}",
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        location = response.headers.get("location")
        call_url = str(httpx.URL(session.webrtc_url).join(location)) if location else None
        return response.text, call_url

    async def end_call(self, call_url: str, token: str) -> dict[str, Any] | None:
        """Hang up a brokered call at the gateway with its call token; the gateway's view of
        the ended call (`ended_reason`, `usage`), or None when it cannot be had."""
        try:
            response = await self._http.delete(
                call_url, headers={"Authorization": f"Bearer {token}"}, timeout=self._timeout
            )
            view = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return view if isinstance(view, dict) else None

    @asynccontextmanager
    async def connect(
        self,
        model: str,
        voice: str,
        *,
        endpoint: str | None = None,
        input_samples: Samples | None = None,
        input_wav: str | Path | None = None,
        ice_timeout: float = DEFAULT_ICE_TIMEOUT,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
    ) -> AsyncIterator[Call]:
        """The whole flow: mint, offer, answer, ICE connected; yields the live `Call`, closes it.

        Outgoing audio is `input_samples` (int16 mono 48 kHz) or `input_wav`, then silence.
        `max_events` and `max_audio_seconds` bound what the call keeps (see `Call`).
        """
        from realtime_gateway.client.call import Call
        from realtime_gateway.media.resampling import load_input

        if input_samples is None and input_wav is not None:
            input_samples = load_input(input_wav)
        call = Call(self, input_samples, max_events=max_events, max_audio_seconds=max_audio_seconds)
        try:
            await call.start(model, voice, endpoint, ice_timeout)
            yield call
        finally:
            await call.close()
