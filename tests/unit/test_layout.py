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


def module_imports(path: Path) -> set[str]:
    """The package's modules a source imports, anywhere in it (a function's lazy import is an
    edge too), except under `if TYPE_CHECKING:` (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("realtime_gateway")}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle, lazy imports included: each module can be read without its importers."""
    sources = {module_of(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: module_imports(path) & set(sources) for name, path in sources.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if target == name or target == name.rsplit(".", 1)[0]:
                continue  # a package's own face, or a module importing its package
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
