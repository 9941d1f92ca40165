"""The four rooms keep their doors: each imports only the rooms it may, and the gateway no media
or client library, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "realtime_gateway"

# The rooms each room may import (itself included).
ALLOWED_ROOMS = {
    "gateway": {"gateway"},
    "media": {"media"},
    "client": {"client", "media"},
    "stub": {"stub", "media"},
}
# Third-party packages that live in extras: the gateway (the core install) imports none.
EXTRA_PACKAGES = {"aiortc", "aioice", "av", "numpy", "httpx"}


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def room_sources(room: str) -> list[Path]:
    sources = sorted((PACKAGE / room).rglob("*.py"))
    assert sources, f"no sources in {room}/"
    return sources


@pytest.mark.parametrize("room", sorted(ALLOWED_ROOMS))
def test_room_imports_only_the_rooms_it_may(room: str) -> None:
    trespasses = []
    for source in room_sources(room):
        for name in imported_names(source):
            parts = name.split(".")
            if parts[0] == "realtime_gateway" and len(parts) > 1:
                if parts[1] in ALLOWED_ROOMS and parts[1] not in ALLOWED_ROOMS[room]:
                    trespasses.append(f"{source.relative_to(PACKAGE)} imports {name}")
                if parts[1] in ("cli", "demo", "demo_key", "extras"):
                    trespasses.append(f"{source.relative_to(PACKAGE)} imports {name}")
    assert trespasses == []


def test_gateway_imports_no_extra_package() -> None:
    found = [
        f"{source.relative_to(PACKAGE)} imports {name}"
        for source in room_sources("gateway")
        for name in imported_names(source)
        if name.split(".")[0] in EXTRA_PACKAGES
    ]
    assert found == []
