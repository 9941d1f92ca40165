"""Answering a ringing phone call at the provider, with the provider key (through
`providers/protocol.post_call`: no redirects, a total timeout, our own error messages):
`POST .../realtime/calls/{id}/accept` with the GA session as the body, or for GPT-Live
`POST .../live/sessions/{id}/accept` with `{session: {type: live, ...}}`; `.../reject` with a
SIP status for both."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.providers.live import Live, live_session
from realtime_gateway.gateway.providers.protocol import CallControl, post_call
from realtime_gateway.gateway.providers.realtime import realtime_session
from realtime_gateway.gateway.providers.registry import provider_named

# SIP statuses (DESIGN section 14): busy for a call the leash refuses, decline for a number no
# tenant has, temporarily unavailable when the gateway itself could not take the call.
BUSY = 486
DECLINE = 603
UNAVAILABLE = 480


def is_live(spec: CallSpec) -> bool:
    """A GPT-Live call (`live.transport.incoming`), not a Realtime one."""
    return isinstance(provider_named(spec.provider), Live)


def accept_body(spec: CallSpec, policy: TenantPolicy) -> dict[str, Any]:
    """The accept body: the spec's session fields under the tenant's pins."""
    if is_live(spec):
        return {"session": {**live_session(spec, policy), "type": "live"}}
    return realtime_session(spec, policy)


def _url(spec: CallSpec, provider_call_id: str, action: str) -> str:
    return f"{spec.endpoint}/{quote(provider_call_id, safe='')}/{action}"


async def _post(control: CallControl, spec: CallSpec, url: str, body: dict[str, Any]) -> None:
    provider = provider_named(spec.provider)
    headers = {**provider.auth_headers(control.api_key), "Content-Type": "application/json"}
    payload = json.dumps(body, separators=(",", ":")).encode()
    await post_call(control, url, headers, payload, provider.label)


async def accept(
    control: CallControl, spec: CallSpec, policy: TenantPolicy, provider_call_id: str
) -> None:
    """Accept the call with the spec's session under the tenant's policy; `ProviderError`."""
    url = _url(spec, provider_call_id, "accept")
    await _post(control, spec, url, accept_body(spec, policy))


async def reject(control: CallControl, spec: CallSpec, provider_call_id: str, status: int) -> None:
    """Reject the ringing call with a SIP status; `ProviderError` if the provider refuses."""
    await _post(control, spec, _url(spec, provider_call_id, "reject"), {"status_code": status})
