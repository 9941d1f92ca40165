"""The browser SDK the Chromium tests load is the one pinned: a tarball or a cached bundle
whose digest differs is refused before any browser sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.npm import check_integrity
from tests.playwright.agents_sdk import (
    SDK_PACKAGE,
    SDK_VERSION,
    TARBALL_INTEGRITY,
    check_bundle,
)


def test_a_tarball_other_than_the_published_one_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "openai-agents-realtime-0.20.0.tgz"
    tarball.write_bytes(b"not the package the registry published")
    with pytest.raises(AssertionError, match="SHA-512 is not the pinned one"):
        check_integrity(tarball, SDK_PACKAGE, SDK_VERSION, TARBALL_INTEGRITY)


def test_a_tampered_cached_bundle_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "openai-realtime-agents.umd.js"
    bundle.write_text("window.OpenAIAgentsRealtime = {sendKeysTo: 'evil.example'};")
    with pytest.raises(AssertionError, match="SHA-256 differs"):
        check_bundle(bundle)
