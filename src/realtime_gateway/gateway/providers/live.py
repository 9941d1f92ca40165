"""OpenAI's Live API (`gpt-live-*`, `POST .../v1/live/sessions`) as a wire of the allow-list.

Live has no ephemeral secrets: a trusted server creates the session with the caller's SDP
offer. So a Live endpoint or model is always brokered (`gateway.calls`), and this adapter
exists so the allow-list accepts Live endpoints; asked to mint, it refuses.
"""

from __future__ import annotations

from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.providers.base import MintedSession, MintRequest
from realtime_gateway.gateway.providers.transport import Transport

LIVE_SUFFIX = "/live/sessions"
LIVE_MODEL_PREFIX = "gpt-live"


def is_live(model: str, endpoint: str) -> bool:
    """A Live model, or an endpoint on the Live API: either way the call must be brokered."""
    return model.startswith(LIVE_MODEL_PREFIX) or endpoint.rstrip("/").endswith(LIVE_SUFFIX)


class LiveAdapter:
    wire = "live"

    async def mint(self, transport: Transport, request: MintRequest) -> MintedSession:
        raise ProviderError("the Live API has no ephemeral secrets; its calls are brokered")
