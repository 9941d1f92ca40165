"""`python -m bench.leash --quick` prints every figure it promises (values are not judged here:
benchmarks print, they never fail the suite; a missing or unmeasured figure does)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIGURES = [
    "leash_creation_added_ms_p50",
    "leash_creation_added_ms_p99",
    "reaper_hang_up_delay_s_p50",
    "reaper_hang_up_delay_s_p99",
]


@pytest.mark.timeout(120)
def test_leash_bench_prints_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.leash", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    values = dict(re.findall(r"^(\w+)=([-\d.naif]+)", result.stdout, re.MULTILINE))
    for name in FIGURES:
        assert name in values, f"{name} missing from:\n{result.stdout[-3000:]}"
        assert math.isfinite(float(values[name])), f"{name}={values[name]}"
