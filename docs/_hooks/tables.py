"""MkDocs hook: each `<!-- table: NAME -->` in a page becomes the table rendered from the code
(`realtime_gateway.reference`), so the settings and error tables have one source."""

from __future__ import annotations

from typing import Any

from realtime_gateway.reference import render_markers


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render_markers(markdown)
