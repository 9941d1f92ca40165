"""The docs site builds strictly, without a network, and its pages load nothing from elsewhere:
no web font, no script or style from a CDN, so it reads the same offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"
# What a page fetches by itself: scripts, styles, images, fonts, frames (a plain <a href> is a
# link the reader may follow, not a fetch).
FETCHED = re.compile(
    r"""<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc=["']([^"']+)["']"""
    r"""|<link\b[^>]*\bhref=["']([^"']+)["']"""
)
CSS_URL = re.compile(r"""@import\s+["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


def offline() -> list[str]:
    """A new network namespace with only a down loopback, where this machine allows one."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return [unshare, "--net"]
    return []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [*offline(), str(MKDOCS), "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return target


def test_the_build_runs_without_a_network() -> None:
    # Where the namespace is refused the build above ran with the network; say so by failing
    # here rather than passing quietly.
    assert offline(), "unshare --net is not permitted here: the offline build was not checked"


def test_every_page_of_the_nav_is_built(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages: list[str] = []

    def walk(entries: list[object]) -> None:
        for entry in entries:
            assert isinstance(entry, dict)
            for value in entry.values():
                if isinstance(value, list):
                    walk(value)
                else:
                    pages.append(value)

    walk(config["nav"])
    assert len(pages) == len(list((ROOT / "docs").glob("*.md")))
    for page in pages:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), page


def test_the_generated_tables_are_in_the_built_pages(site: Path) -> None:
    settings = (site / "settings" / "index.html").read_text()
    errors = (site / "errors" / "index.html").read_text()
    assert "<code>GATEWAY_REDIS_WAIT_MS</code>" in settings
    assert "<!-- table:" not in settings and "<!-- table:" not in errors
    assert "<code>calls_unavailable</code>" in errors and "<code>NotReady</code>" in errors


def test_no_page_fetches_anything_from_another_host(site: Path) -> None:
    remote = []
    for page in site.rglob("*.html"):
        for match in FETCHED.finditer(page.read_text(encoding="utf-8")):
            address = match.group(1) or match.group(2)
            if re.match(r"(?:[a-z]+:)?//", address):
                remote.append(f"{page.relative_to(site)}: {address}")
    for sheet in site.rglob("*.css"):
        for match in CSS_URL.finditer(sheet.read_text(encoding="utf-8")):
            address = match.group(1) or match.group(2)
            if re.match(r"(?:[a-z]+:)?//", address):
                remote.append(f"{sheet.relative_to(site)}: {address}")
    assert remote == []
    assert not list(site.rglob("*.woff*")), "a web font was bundled: font: false is gone"
