"""What hostile multipart bodies cost a brokered gateway, and `/healthz` beside them.

The bodies that froze a replica through Python's `email` parser (1,500 nested parts, 20,000 `(`
in a part header, 7,000 empty parts), posted to `POST /realtime_calls` with a made-up call
token: the milliseconds from sending to the documented 400/401 (sequential, one keep-alive
connection), then `/healthz` latency while three senders post them back to back. Targets from
the target: each body answered within 50 ms, `/healthz` under 50 ms meanwhile.
`python -m bench --only offers`.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass

from bench.procs import HOST, Service, Stack, free_port, gateway_service
from bench.report import Report, Target

ANSWER_TARGET = Target("<=", 50.0)
MADE_UP_TOKEN = "rtg_ct_" + "A" * 32 + ".tenant000"


def nested(depth: int) -> tuple[str, bytes]:
    """`depth` multipart forms, each the only part of the one around it."""
    inner = b"v=0\r\n"
    for level in range(depth, 0, -1):
        inner = (
            f"--{level}\r\nContent-Disposition: form-data; name=sdp\r\n"
            f"Content-Type: multipart/form-data; boundary={level + 1}\r\n\r\n".encode()
            + inner
            + f"\r\n--{level}--\r\n".encode()
        )
    return "multipart/form-data; boundary=1", inner


def parens(count: int = 20_000) -> tuple[str, bytes]:
    head = b"--b\r\nContent-Disposition: form-data; name=sdp; x=" + b"(" * count
    return "multipart/form-data; boundary=b", head + b"\r\n\r\nv=0\r\n--b--\r\n"


def empty_parts(count: int = 7000) -> tuple[str, bytes]:
    part = b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n\r\n"
    return "multipart/form-data; boundary=b", part * count + b"--b--\r\n"


# name -> (Content-Type, body); tests/integration/test_offer_attack.py sends the same.
ATTACKS: dict[str, tuple[str, bytes]] = {
    "nested_1500": nested(1500),
    "parens_20000": parens(),
    "empty_parts_7000": empty_parts(),
}


@dataclass(frozen=True)
class OfferAttackPlan:
    posts: int = 50  # of each body, sequential
    senders: int = 3
    health_probes: int = 200

    @classmethod
    def quick(cls) -> OfferAttackPlan:
        return cls(posts=10, health_probes=50)


def post_offer(connection: http.client.HTTPConnection, content_type: str, body: bytes) -> int:
    connection.request(
        "POST",
        "/realtime_calls",
        body=body,
        headers={"Authorization": f"Bearer {MADE_UP_TOKEN}", "Content-Type": content_type},
    )
    response = connection.getresponse()
    response.read()
    return response.status


def brokered_gateway(stack: Stack) -> Service:
    service = gateway_service(free_port(), stack.stub.port)
    service.name = "gateway-offers"
    service.env["GATEWAY_CALL_MODE"] = "brokered"
    service.env["GATEWAY_MAX_OFFER_BYTES"] = str(1024 * 1024)  # every body reaches the parser
    return service


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_offer_attack(stack: Stack, report: Report, plan: OfferAttackPlan) -> None:
    gateway = brokered_gateway(stack)
    gateway.start(stack.workdir)
    try:
        measure(gateway.port, report, plan)
    finally:
        gateway.stop()


def measure(port: int, report: Report, plan: OfferAttackPlan) -> None:
    refused_statuses: set[int] = set()
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    for name, (content_type, body) in ATTACKS.items():
        times = []
        for _ in range(plan.posts):
            started = time.perf_counter()
            refused_statuses.add(post_offer(connection, content_type, body))
            times.append((time.perf_counter() - started) * 1000)
        report.add(
            f"offer_attack_{name}_p50_ms",
            statistics.median(times),
            ANSWER_TARGET,
            note=f"{len(body) // 1024} KiB, {plan.posts} sequential",
        )
        report.add(f"offer_attack_{name}_max_ms", max(times))
    connection.close()
    report.add(
        "offer_attack_statuses_other_than_400_401",
        float(len(refused_statuses - {400, 401})),
        Target("==", 0.0),
        note=f"seen: {sorted(refused_statuses)}",
    )
    quiet = health_times(port, plan.health_probes)
    stop = threading.Event()
    threads = [threading.Thread(target=flood, args=(port, stop)) for _ in range(plan.senders)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)  # the senders reach their stride
        attacked = health_times(port, plan.health_probes)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    report.add("offer_attack_healthz_quiet_p50_ms", statistics.median(quiet))
    report.add(
        "offer_attack_healthz_p50_ms",
        statistics.median(attacked),
        ANSWER_TARGET,
        note=f"{plan.senders} senders posting the bodies back to back",
    )
    report.add("offer_attack_healthz_p99_ms", percentile(attacked, 0.99), ANSWER_TARGET)


def health_times(port: int, probes: int) -> list[float]:
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    times = []
    for _ in range(probes):
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
    connection.close()
    return times


def flood(port: int, stop: threading.Event) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        while not stop.is_set():
            for content_type, body in ATTACKS.values():
                post_offer(connection, content_type, body)
    except (OSError, http.client.HTTPException):
        pass
    finally:
        connection.close()
