"""`python -m bench --quick` produces every figure it promises (values are not judged here:
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
    "mint_overhead_p50_ms",
    "mint_overhead_p99_ms",
    "mint_saturation_ratio",
    "mint_errors",
    "limiter_memory_p50_us",
    "limiter_redis_p50_us",
    "redis_round_trips_per_decision",
    "first_audio_ratio",
    "gateway_rss_idle_mb",
    "gateway_rss_growth_second_half_mb",
    "header_attack_rss_idle_mb",
    "header_attack_rss_growth_mb",
    "header_attack_mint_ratio",
    "workers_1_mints_per_s",
    "workers_2_mints_per_s",
    "workers_scaling_ratio",
    "workers_errors",
    "workers_stub_scaling_ratio",
    "workers_stub_errors",
    "mint_brokered_ratio",
    "first_audio_brokered_ratio",
    "leash_creation_added_ms_p50",
    "leash_creation_added_ms_p99",
    "reaper_hang_up_delay_s_p50",
    "reaper_hang_up_delay_s_p99",
    "offer_attack_nested_1500_p50_ms",
    "offer_attack_parens_20000_p50_ms",
    "offer_attack_empty_parts_7000_p50_ms",
    "offer_attack_healthz_p99_ms",
    "v1_calls_v1_token_added_ms_p50",
    "v1_calls_v1_tenant_added_ms_p99",
    "idle_redis_commands_per_s",
    "ws_10_direct_rtt_ms_p99",
    "ws_10_gateway_added_ms_p99",
    "ws_10_gateway_cpu_ms_per_mb",
    "ws_10_gateway_rss_kb_per_session",
]


@pytest.mark.timeout(600)
def test_quick_bench_prints_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    values = dict(re.findall(r"^(\w+)=([-\d.naif]+)", result.stdout, re.MULTILINE))
    for name in FIGURES:
        assert name in values, f"{name} missing from:\n{result.stdout[-3000:]}"
        assert math.isfinite(float(values[name])), f"{name}={values[name]}"
    assert "skipped" not in result.stdout, result.stdout[-3000:]
    assert float(values["mint_errors"]) == 0
    assert float(values["workers_errors"]) == float(values["workers_stub_errors"]) == 0
    assert float(values["redis_round_trips_per_decision"]) == 1
