"""Creating and hanging up brokered calls at the provider, with the provider key.

Every failure is a `ProviderError` with our own message (`OpenAI returned 500 Internal Server
Error`), as for minting; the provider's raw body goes to the log, redacted. The provider's call
id and answer headers stay here: the caller gets the answer SDP and nothing else.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from realtime_gateway.gateway.calls.http import CallTransport, UpstreamReply
from realtime_gateway.gateway.calls.records import CallGrant, CallRecord
from realtime_gateway.gateway.calls.wire import (
    CallPolicy,
    UpstreamTarget,
    hangup_url,
    live_request,
    realtime_form,
    upstream_target,
)
from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.providers.base import reason_phrase, redact
from realtime_gateway.gateway.providers.openai import auth_headers, provider_name
from realtime_gateway.gateway.providers.transport import UpstreamTimeout, UpstreamUnreachable

log = logging.getLogger("realtime_gateway.calls.upstream")

# A provider call id goes into the hangup URL's path: nothing that could leave that segment.
PROVIDER_CALL_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class CreatedCall:
    target: UpstreamTarget
    provider_call_id: str
    answer_sdp: str


class CallUpstream:
    def __init__(self, transport: CallTransport, api_key: str, timeout: float) -> None:
        self.transport = transport
        self._api_key = api_key
        self._timeout = timeout

    async def create(self, grant: CallGrant, sdp: str, policy: CallPolicy) -> CreatedCall:
        target = upstream_target(grant)
        headers = auth_headers(target.create_url, self._api_key)
        if target.wire == "live":
            body = json.dumps(live_request(grant, policy, sdp)).encode()
            headers = {**headers, "Content-Type": "application/json"}
        else:
            body, content_type = realtime_form(grant, policy, sdp)
            headers = {**headers, "Content-Type": content_type, "Accept": "application/sdp"}
        reply = await self._post(target.create_url, headers, body, target.provider)
        if target.wire == "live":
            call_id, answer = _live_answer(reply, target.provider)
        else:
            call_id, answer = _realtime_answer(reply, target.provider)
        if not PROVIDER_CALL_ID.fullmatch(call_id) or call_id in (".", ".."):
            raise _malformed(target.provider, "the call id is not a plain identifier")
        if not answer.lstrip().startswith("v=0"):
            raise _malformed(target.provider, "the answer is not SDP")
        return CreatedCall(target, call_id, answer)

    async def hang_up(self, record: CallRecord) -> None:
        """Ask the provider to end the call; a call it no longer knows (404) counts as ended."""
        url = hangup_url(record.upstream_endpoint, record.provider_call_id)
        provider = provider_name(url)
        headers = {**auth_headers(url, self._api_key), "Content-Type": "application/json"}
        await self._post(url, headers, b"{}", provider, tolerate=(404,))

    async def _post(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        provider: str,
        tolerate: tuple[int, ...] = (),
    ) -> UpstreamReply:
        try:
            reply = await self.transport.post(
                url, headers=headers, body=body, timeout=self._timeout
            )
        except UpstreamTimeout as error:
            raise ProviderError(f"{provider} did not answer within {self._timeout:g} s") from error
        except UpstreamUnreachable as error:
            log.warning("provider unreachable", extra={"provider": provider, "error": str(error)})
            raise ProviderError(f"{provider} could not be reached") from error
        if 200 <= reply.status < 300 or reply.status in tolerate:
            return reply
        log.warning(
            "provider refused the call",
            extra={
                "provider": provider,
                "status": reply.status,
                "path": urlsplit(url).path.rsplit("/", 2)[0],
                "body": redact(reply.text),
            },
        )
        message = f"{provider} returned {reply.status} {reason_phrase(reply.status)}"
        if reply.status == 429:
            message += " (the provider's own rate limit, not this gateway's)"
        elif 300 <= reply.status < 400:
            message += " (redirects are not followed)"
        raise ProviderError(message)


def _malformed(provider: str, detail: str) -> ProviderError:
    log.warning("malformed provider call answer", extra={"provider": provider, "detail": detail})
    return ProviderError(f"{provider} answered a malformed call ({detail})")


def _realtime_answer(reply: UpstreamReply, provider: str) -> tuple[str, str]:
    location = (reply.location or "").rstrip("/")
    call_id = location.rsplit("/", 1)[-1] if location else ""
    if not call_id:
        raise _malformed(provider, "no call id in Location")
    return call_id, reply.text


def _live_answer(reply: UpstreamReply, provider: str) -> tuple[str, str]:
    try:
        answer = json.loads(reply.body)
    except ValueError as error:
        raise _malformed(provider, "not JSON") from error
    session = answer.get("session") if isinstance(answer, dict) else None
    transport = answer.get("transport") if isinstance(answer, dict) else None
    call_id = session.get("id") if isinstance(session, dict) else None
    sdp = transport.get("sdp") if isinstance(transport, dict) else None
    if not isinstance(call_id, str) or not call_id:
        raise _malformed(provider, "no session id")
    if not isinstance(sdp, str):
        raise _malformed(provider, "no transport.sdp")
    return call_id, sdp
