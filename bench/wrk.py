"""wrk (Debian's `wrk`, C) as the load generator of the workers section.

On two cores the load generator shares the machine with the workers it measures, so what it
spends per request is taken from them: `bench/loadgen.py` (Python) spends about 110 us per
mint, wrk about 10. The mint section keeps loadgen.py, whose open loop and latency accounting
wrk does not have. `run_wrk` runs one closed-loop block and returns what the workers section
reads: completions, 200s, failures, seconds and the generator's CPU.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

WRK = shutil.which("wrk") or "/usr/bin/wrk"

_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def lua_script(body: str, token: str) -> str:
    """Every request a POST of `body` with the tenant's bearer key."""
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {json.dumps("Bearer " + token)}\n'
    )


def parse_output(text: str) -> dict[str, Any]:
    requests = _REQUESTS.search(text)
    if requests is None:
        raise RuntimeError(f"wrk printed no request count:\n{text}")
    completed = int(requests.group(1))
    seconds = float(requests.group(2)) * _UNIT_SECONDS[requests.group(3)]
    non_2xx = _NON_2XX.search(text)
    not_ok = int(non_2xx.group(1)) if non_2xx else 0
    errors = _SOCKET_ERRORS.search(text)
    failures = sum(int(count) for count in errors.groups()) if errors else 0
    return {
        "completed": completed,
        "total_completed": completed,
        "ok": completed - not_ok,
        "failures": failures,
        "seconds": seconds,
    }


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk_once(url: str, script: Path, connections: int, seconds: int) -> str:
    command = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def run_wrk(*, url: str, token: str, body: str, connections: int, seconds: int) -> dict[str, Any]:
    """One closed-loop run of whole `seconds` on one thread (one core's worth of generator)."""
    with tempfile.TemporaryDirectory(prefix="rtg-wrk-") as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(lua_script(body, token))
        cpu_before = children_cpu_seconds()
        run = parse_output(wrk_once(url, script, connections, seconds))
        run["cpu_seconds"] = children_cpu_seconds() - cpu_before
    return run
