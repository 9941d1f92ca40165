"""The first hour needs one install: what `scripts/demo` installs (the `[demo]` extra, as
uv.lock resolves it) holds what `realtime-gateway connect` imports, and the core install is
uvicorn without `[standard]`."""

from __future__ import annotations

import tomllib
from importlib.metadata import requires
from pathlib import Path

from realtime_gateway.extras import EXTRA_OF_PACKAGE, EXTRAS_OF_COMMAND

ROOT = Path(__file__).resolve().parents[2]


def locked_project() -> dict[str, object]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (project,) = [p for p in lock["package"] if p["name"] == "realtime-gateway"]
    return dict(project)


def locked_extra(name: str) -> set[str]:
    extras = locked_project()["optional-dependencies"]
    assert isinstance(extras, dict)
    return {dependency["name"] for dependency in extras[name]}


def test_the_demo_install_has_what_connect_imports() -> None:
    demo = locked_extra("demo")
    assert {"httpx", "aiortc", "aioice", "av", "numpy"} <= demo
    for extra in EXTRAS_OF_COMMAND["connect"].split(","):
        needed = {package for package, its_extra in EXTRA_OF_PACKAGE.items() if its_extra == extra}
        assert needed <= demo, f"[demo] lacks the [{extra}] packages connect needs"
        assert needed <= locked_extra(extra)


def test_the_demo_extra_as_installed_names_the_client() -> None:
    # The installed metadata is what pip would resolve from a published wheel.
    demo = [line for line in requires("realtime-gateway") or [] if 'extra == "demo"' in line]
    assert any("client" in line and "stub" in line for line in demo), demo


def test_the_core_install_is_uvicorn_with_the_parts_the_gateway_uses() -> None:
    core = {dependency["name"]: dependency for dependency in locked_project()["dependencies"]}
    assert "extra" not in core["uvicorn"], "uvicorn[standard] is back"
    assert {"httptools", "uvloop", "websockets"} <= set(core)
    assert not {"watchfiles", "python-dotenv", "pyyaml"} & set(core)
