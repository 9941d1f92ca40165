"""The operator page, with the Live models the gateway allows added to its model list (Live
calls are always brokered, so the page can offer them whatever the default call mode)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from realtime_gateway.gateway.providers.live import LIVE_MODEL_PREFIX
from realtime_gateway.gateway.settings import Settings

KNOWN_LIVE_MODELS = ("gpt-live-1", "gpt-live-1.1")
MARKER = "<!-- live-models -->"


def live_models(settings: Settings) -> list[str]:
    if not settings.allowed_models:
        return list(KNOWN_LIVE_MODELS)
    return [m for m in settings.allowed_models if m.startswith(LIVE_MODEL_PREFIX)]


def render_page(index: Path, settings: Settings) -> str:
    options = "".join(
        f'<option value="{escape(model)}" label="{escape(model)} (Live, brokered)"></option>'
        for model in live_models(settings)
    )
    return index.read_text(encoding="utf-8").replace(MARKER, options)
