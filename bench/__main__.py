"""`python -m bench [--quick] [--only SECTION ...] [--variant V]`: every figure side by side.

Sections: mint (overhead and saturation), limiter, audio (time to first audio in Chromium),
memory (gateway RSS), headers (RSS and mint latency under a header attack), workers (mints/s with
1 and 2 worker processes on Redis), brokered (brokered against direct mode: mints/s, first
audio), leash (what the leash adds to a call's creation; the reaper's hang-up delay), offers
(hostile multipart bodies against a brokered gateway, and /healthz beside them), v1 (what
`/v1/realtime/calls` adds over the stub's own calls endpoint), idle (the Redis commands a second
of a quiet fleet: 2 replicas x 2 workers, 200 tenants, 1,000 live calls), ws (WebSocket sessions
relayed: the round trip a frame gains, CPU per MB, RSS per session). Prints one
`name=value [target ok|MISSED]` line per figure as it is measured, then a table of figures
against targets. Benchmarks print; they never fail (exit 0).
`--variant` serves the gateway with candidate hot-path changes (bench/variants.py);
`python -m bench.profile` samples the gateway under load with py-spy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from bench.header_attack import HeaderAttackPlan, run_header_attack
from bench.limiter import LimiterPlan, run_limiter
from bench.memory import MemoryPlan, run_memory
from bench.mint import MintPlan, run_mint
from bench.procs import Stack, rss_kb
from bench.report import Report
from bench.workers import WorkersPlan, run_workers

SECTIONS = (
    "mint",
    "limiter",
    "audio",
    "memory",
    "headers",
    "workers",
    "brokered",
    "leash",
    "offers",
    "v1",
    "idle",
    "ws",
)


def plans(quick: bool) -> tuple[MintPlan, LimiterPlan, MemoryPlan, int, WorkersPlan]:
    if quick:
        return (
            MintPlan(rounds=1, warmup=0.5, block=2.5, saturation_block=2.0),
            LimiterPlan(memory_decisions=20_000, redis_decisions=2_000),
            MemoryPlan(mints=2_000, checkpoints=4),
            3,
            WorkersPlan(rounds=1, warmup=1, block=2),
        )
    return MintPlan(), LimiterPlan(), MemoryPlan(), 10, WorkersPlan()


def source_version() -> str:
    """The commit measured, and whether src/ differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    return commit + (" with uncommitted changes in src/" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the whole set in under a minute")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run these sections")
    parser.add_argument(
        "--variant",
        default=None,
        help="serve the gateway with candidate hot-path changes (see bench/variants.py)",
    )
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    mint_plan, limiter_plan, memory_plan, audio_runs, workers_plan = plans(args.quick)

    started = time.monotonic()
    load = os.getloadavg()[0]
    print(
        f"# realtime-gateway bench ({'quick' if args.quick else 'full'}) at {source_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start"
        + (f", gateway variant {args.variant}" if args.variant else ""),
        flush=True,
    )
    report = Report()
    stack = Stack(args.variant)
    try:
        stack.start()
        idle_kb = rss_kb(stack.gateway.pid)
        under_load_kb = 0
        if "mint" in sections:
            mint = run_mint(stack, report, mint_plan)
            under_load_kb = mint.gateway_rss_peak_kb
        if "limiter" in sections:
            run_limiter(report, limiter_plan, stack)
        if "audio" in sections:
            from bench.first_audio import run_first_audio

            stack.restart_stub()
            run_first_audio(stack, report, audio_runs)
        if "memory" in sections:
            run_memory(stack, report, memory_plan, idle_kb, under_load_kb)
        if "headers" in sections:
            header_plan = HeaderAttackPlan.quick() if args.quick else HeaderAttackPlan()
            run_header_attack(stack, report, header_plan)
        if "workers" in sections:
            run_workers(stack, report, workers_plan)
        if "brokered" in sections:
            from bench.brokered import BrokeredPlan, run_brokered

            quick = BrokeredPlan(rounds=1, block=2.0, audio_runs=3)
            run_brokered(stack, report, quick if args.quick else BrokeredPlan())
        if "leash" in sections:
            from bench.leash import LeashPlan, run_leash

            leash_quick = LeashPlan(creations=300, reaped_calls=20)
            run_leash(report, leash_quick if args.quick else LeashPlan(), stack.workdir)
        if "offers" in sections:
            from bench.offer_attack import OfferAttackPlan, run_offer_attack

            offers_plan = OfferAttackPlan.quick() if args.quick else OfferAttackPlan()
            run_offer_attack(stack, report, offers_plan)
        if "v1" in sections:
            from bench.v1_calls import V1Plan, run_v1_calls

            run_v1_calls(stack, report, V1Plan(calls=15) if args.quick else V1Plan())
        if "idle" in sections:
            from bench.idle import IdlePlan, run_idle

            idle_quick = IdlePlan(calls=300, settle=3.0, window=5.0)
            run_idle(report, idle_quick if args.quick else IdlePlan(), stack.workdir)
        if "ws" in sections:
            from bench.ws import WsPlan, run_ws

            # --quick leaves LiteLLM out: its first install takes minutes.
            plan = WsPlan((1, 10), 3.0) if args.quick else WsPlan()
            run_ws(report, plan, stack.workdir, litellm=not args.quick)
    except Exception as error:  # a benchmark reports what it could, never a traceback wall
        print(f"# bench aborted: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        print(stack.logs_tail(), file=sys.stderr, flush=True)
    finally:
        stack.stop()
    print()
    print(report.table())
    print(
        f"# {time.monotonic() - started:.1f} s; load average {os.getloadavg()[0]:.2f} at end "
        "(other work on this machine adds noise)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
