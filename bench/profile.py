"""Profile the gateway under load: `python -m bench.profile [--variant V] [--seconds N]`.

Starts the stub and a gateway, saturates it with the load generator while py-spy samples the
gateway process, then prints the frames that hold the most samples, by self time and inclusive.
py-spy is not a project dependency: `pip install py-spy` first.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.loadgen import run_loadgen
from bench.procs import Stack, gateway_body, tenant_keys


def summarize(raw: Path, top: int) -> str:
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        # "func (file:line)" -> "func (file)", once per stack
        for frame in {frame.split(":")[0] + ")" for frame in frames}:
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "self:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--variant", default=None, help="see bench/variants.py")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    stack = Stack(args.variant)
    raw = stack.workdir / "gateway.pyspy.txt"
    try:
        stack.start()
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(stack.gateway.pid), "--output", str(raw)]
            + ["--format", "raw", "--rate", "200", "--nonblocking"]
            + ["--duration", str(int(args.seconds))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        run = run_loadgen(
            port=stack.gateway.port,
            path="/realtime_session",
            tokens=tenant_keys(),
            body=gateway_body(),
            connections=args.connections,
            warmup=0.0,
            duration=args.seconds,
        )
        _, errors = spy.communicate(timeout=args.seconds + 30)
        print(
            f"# gateway{' variant ' + args.variant if args.variant else ''}: "
            f"{run['throughput']:.0f} mints/s, p50 {run['latency_ms']['p50']:.1f} ms "
            f"at {args.connections} connections"
        )
        if spy.returncode != 0 or not raw.exists():
            print(f"py-spy failed: {errors.decode(errors='replace')[-1000:]}", file=sys.stderr)
            return 1
        print(summarize(raw, args.top))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
