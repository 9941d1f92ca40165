"""The one place a provider is chosen: from an allow-listed endpoint (and the model, for
Live), or from the name a call record keeps. A new provider is a module and a line here."""

from __future__ import annotations

from realtime_gateway.gateway.providers.azure import Azure
from realtime_gateway.gateway.providers.live import Live
from realtime_gateway.gateway.providers.protocol import Provider
from realtime_gateway.gateway.providers.realtime import RealtimeBeta, RealtimeGa
from realtime_gateway.gateway.settings import OPENAI_BETA_ENDPOINT, OPENAI_GA_ENDPOINT

# Asked in this order: a Live model goes to Live whatever the endpoint.
PROVIDERS: tuple[Provider, ...] = (Live(), Azure(), RealtimeGa(), RealtimeBeta())
BY_NAME: dict[str, Provider] = {
    "openai": PROVIDERS[2],
    "openai-live": PROVIDERS[0],
    "azure": PROVIDERS[1],
}

# The seed documented OpenAI's beta URL; OpenAI retired that API, so it is served through GA.
ALIASES = {OPENAI_BETA_ENDPOINT: OPENAI_GA_ENDPOINT}


class UnknownWire(ValueError):
    """No provider speaks to an endpoint with this path."""


def provider_for(endpoint: str, model: str = "") -> tuple[Provider, str]:
    """The provider for a normalised endpoint, and the URL it should actually call."""
    target = ALIASES.get(endpoint, endpoint)
    for provider in PROVIDERS:
        if provider.handles(target, model):
            return provider, target
    raise UnknownWire(
        f"endpoint {target!r} ends neither in /realtime/client_secrets (GA), "
        "/realtime/sessions (beta) nor /live/sessions (Live)"
    )


def provider_named(name: str) -> Provider:
    return BY_NAME[name]
