"""What waiting for a Redis replica costs a brokered call's creation (`GATEWAY_REDIS_WAIT_REPLICAS`,
gateway/replica_wait.py), against a real master and its replica on loopback:

- the wait with the replica in sync: one marker write and `WAIT 1` in one round trip; p50/p99
  in ms, beside a plain `PING` round trip on the same client for scale;
- the wait with the replica stopped (SIGSTOP): each creation pays `GATEWAY_REDIS_WAIT_MS`.

`python -m bench.replica_wait [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from bench.procs import free_port, redis_service
from realtime_gateway.gateway.redisconn import make_client
from realtime_gateway.gateway.replica_wait import ReplicaWait

TIMEOUT_MS = 200


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed(action: object, rounds: int) -> list[float]:
    assert callable(action)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def measure(master_port: int, replica_pid: int, rounds: int) -> None:
    client = make_client(f"redis://127.0.0.1:{master_port}/0")
    wait = ReplicaWait(client, 1, TIMEOUT_MS)
    try:
        while await wait("bench") < 1:  # until the replica has synced
            await asyncio.sleep(0.1)
        pings = await timed(client.ping, rounds)
        waits = await timed(lambda: wait("bench"), rounds)
        os.kill(replica_pid, signal.SIGSTOP)
        try:
            stalled = await timed(lambda: wait("bench"), 3)
        finally:
            os.kill(replica_pid, signal.SIGCONT)
    finally:
        await client.aclose()
    print(f"rounds: {rounds}")
    print(f"ping p50/p99 ms: {statistics.median(pings):.3f} / {percentile(pings, 0.99):.3f}")
    print(
        f"replica wait (in sync) p50/p99 ms: {statistics.median(waits):.3f} / "
        f"{percentile(waits, 0.99):.3f}"
    )
    stalled_ms = statistics.median(stalled)
    print(f"replica wait (replica stopped, timeout {TIMEOUT_MS} ms) ms: {stalled_ms:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 rounds instead of 2000")
    args = parser.parse_args()
    master_port, replica_port = free_port(), free_port()
    master = redis_service(master_port)
    master.command += ["--repl-diskless-sync-delay", "0"]  # sync the replica at once
    replica = redis_service(replica_port)
    replica.name = "redis-replica"
    with tempfile.TemporaryDirectory(prefix="rtg-bench-wait-") as workdir:
        # The replica writes the RDB of its first sync into its directory.
        replica.command += ["--replicaof", "127.0.0.1", str(master_port), "--dir", workdir]
        master.start(Path(workdir))
        try:
            replica.start(Path(workdir))
            try:
                asyncio.run(measure(master_port, replica.pid, 200 if args.quick else 2000))
            finally:
                replica.stop()
        finally:
            master.stop()


if __name__ == "__main__":
    main()
