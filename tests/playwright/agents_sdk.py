"""OpenAI's browser SDK, `@openai/agents-realtime`, for the browser tests: its prebuilt UMD bundle
(global `OpenAIAgentsRealtime`), fetched once from the npm registry (`tests/fixtures/npm.py`)
and cached under `.cache/` in the repository (git-ignored). The package is MIT-licensed
(Copyright (c) 2025 OpenAI); its LICENSE is kept next to the cached bundle.

When the bundle is not cached and npm cannot fetch it, the test fails (it never skips): the SDK's
fidelity is what the test is for. The tarball is checked against the registry's published
integrity (SHA-512, pinned here), and the cached bundle against its pinned SHA-256 each time it
is used: a tampered registry answer or cache never reaches the browser.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from pathlib import Path

from tests.fixtures.npm import npm_tarball

SDK_PACKAGE = "@openai/agents-realtime"
SDK_VERSION = "0.20.0"
BUNDLE_MEMBER = "package/dist/bundle/openai-realtime-agents.umd.js"
LICENSE_MEMBER = "package/LICENSE"
# `npm view @openai/agents-realtime@0.20.0 dist.integrity`
TARBALL_INTEGRITY = (
    "sha512-KK3w9k9rkqv5mC25vykWTe/1IIcOMsqwJs9mB0aX9Z2Us487xGduZgqr+ENEzthjZbQvTi/+qUv/tfoZeN/p/w"
    "=="
)
BUNDLE_SHA256 = "d6a56973e9ec59a69d2254739f31c8b36bf8c3b3bc346f111956d67aa81c35be"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / f"agents-realtime-{SDK_VERSION}"


def agents_sdk_bundle() -> Path:
    """The path of the cached UMD bundle, fetching it first if it is not there."""
    bundle = CACHE / "openai-realtime-agents.umd.js"
    if bundle.is_file():
        check_bundle(bundle)
        return bundle
    tarball = npm_tarball(SDK_PACKAGE, SDK_VERSION, TARBALL_INTEGRITY)
    with tempfile.TemporaryDirectory() as scratch:
        staging = Path(scratch) / "staging"
        staging.mkdir()
        with tarfile.open(tarball) as archive:
            for member, name in ((BUNDLE_MEMBER, bundle.name), (LICENSE_MEMBER, "LICENSE")):
                source = archive.extractfile(member)
                if source is None:
                    raise AssertionError(f"{member} is missing from the {SDK_PACKAGE} package")
                (staging / name).write_bytes(source.read())
        check_bundle(staging / bundle.name)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        # Complete or absent: a half-written cache must never look like a bundle.
        shutil.rmtree(CACHE, ignore_errors=True)
        shutil.move(str(staging), str(CACHE))
    return bundle


def check_bundle(bundle: Path) -> None:
    """The bundle (fetched now or cached before) is the one the pinned tarball holds."""
    if hashlib.sha256(bundle.read_bytes()).hexdigest() != BUNDLE_SHA256:
        raise AssertionError(
            f"{bundle} is not the bundle of {SDK_PACKAGE}@{SDK_VERSION} (SHA-256 differs); "
            "delete .cache/ to fetch it again"
        )
