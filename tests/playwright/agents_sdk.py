"""OpenAI's browser SDK, `@openai/agents-realtime`, for the browser tests: its prebuilt UMD bundle
(global `OpenAIAgentsRealtime`), fetched once from the npm registry with `npm pack` and cached
under `.cache/` in the repository (git-ignored). The package is MIT-licensed (Copyright (c) 2025
OpenAI); its LICENSE is kept next to the cached bundle.

When the bundle is not cached and npm cannot fetch it, the test fails (it never skips): the SDK's
fidelity is what the test is for.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

SDK_PACKAGE = "@openai/agents-realtime"
SDK_VERSION = "0.20.0"
BUNDLE_MEMBER = "package/dist/bundle/openai-realtime-agents.umd.js"
LICENSE_MEMBER = "package/LICENSE"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / f"agents-realtime-{SDK_VERSION}"
NPM_TIMEOUT = 180


def agents_sdk_bundle() -> Path:
    """The path of the cached UMD bundle, fetching it first if it is not there."""
    bundle = CACHE / "openai-realtime-agents.umd.js"
    if bundle.is_file():
        return bundle
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("npm is not installed: cannot fetch the official browser SDK")
    with tempfile.TemporaryDirectory() as scratch:
        try:
            packed = subprocess.run(
                [npm, "pack", f"{SDK_PACKAGE}@{SDK_VERSION}", "--pack-destination", scratch],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                cwd=scratch,
            )
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"npm pack took over {NPM_TIMEOUT} s") from error
        tarballs = list(Path(scratch).glob("*.tgz"))
        if packed.returncode != 0 or not tarballs:
            raise AssertionError(
                f"npm could not fetch {SDK_PACKAGE}@{SDK_VERSION} "
                f"(exit {packed.returncode}): {packed.stderr.strip()[-500:]}"
            )
        staging = Path(scratch) / "staging"
        staging.mkdir()
        with tarfile.open(tarballs[0]) as archive:
            for member, name in ((BUNDLE_MEMBER, bundle.name), (LICENSE_MEMBER, "LICENSE")):
                source = archive.extractfile(member)
                if source is None:
                    raise AssertionError(f"{member} is missing from the {SDK_PACKAGE} package")
                (staging / name).write_bytes(source.read())
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        # Complete or absent: a half-written cache must never look like a bundle.
        shutil.rmtree(CACHE, ignore_errors=True)
        shutil.move(str(staging), str(CACHE))
    return bundle
