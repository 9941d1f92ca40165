"""Provider adapters, one per wire shape, chosen from the endpoint URL's path."""

from __future__ import annotations

from urllib.parse import urlsplit

from realtime_gateway.gateway.providers.base import MintedSession, MintRequest, ProviderAdapter
from realtime_gateway.gateway.providers.live import LIVE_SUFFIX, LiveAdapter
from realtime_gateway.gateway.providers.openai import BETA_SUFFIX, GA_SUFFIX, BetaAdapter, GaAdapter
from realtime_gateway.gateway.settings import OPENAI_BETA_ENDPOINT, OPENAI_GA_ENDPOINT

__all__ = ["MintRequest", "MintedSession", "ProviderAdapter", "UnknownWire", "select_adapter"]

# The seed documented OpenAI's beta URL; OpenAI retired that API, so it is served through GA.
ALIASES = {OPENAI_BETA_ENDPOINT: OPENAI_GA_ENDPOINT}


class UnknownWire(ValueError):
    """No adapter speaks to an endpoint with this path."""


def select_adapter(endpoint: str) -> tuple[ProviderAdapter, str]:
    """The adapter for a normalised endpoint, and the URL it should actually call."""
    target = ALIASES.get(endpoint, endpoint)
    path = urlsplit(target).path
    if path.endswith(GA_SUFFIX):
        return GaAdapter(), target
    if path.endswith(BETA_SUFFIX):
        return BetaAdapter(), target
    if path.endswith(LIVE_SUFFIX):
        return LiveAdapter(), target
    raise UnknownWire(
        f"endpoint path {path!r} ends neither in {GA_SUFFIX} (GA), {BETA_SUFFIX} (beta) "
        f"nor {LIVE_SUFFIX} (Live)"
    )
