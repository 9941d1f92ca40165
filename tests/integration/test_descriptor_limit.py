"""Few descriptors: a real `realtime-gateway serve` whose descriptor limit is low (set in the
child only): the cap leaves room for the process's own pools, connections past the cap are
answered 503 and let go at once (an idle one used to keep its descriptor for the header
timeout), so with cap + 300 idle sockets open a mint is answered 200 or 503 `server_busy`,
never `provider_error` and never an empty reply."""

from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path

import httpx

from realtime_gateway.gateway.descriptors import descriptor_reserve
from realtime_gateway.gateway.settings import load_settings
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub

TENANT_KEY = "rtg_descriptor_limit_acme_8c1d"
NOFILE = 700
OVER_CAP = 300
WAIT = 30.0  # bounds each wait: "answered", not "how fast"


def logged_cap(output: str) -> int:
    for line in output.splitlines():
        if "connection cap lowered" in line:
            return int(json.loads(line)["cap"])
    raise AssertionError(f"the gateway did not log its lowered cap:\n{output[-2000:]}")


def answers_of(sockets: list[socket.socket], wanted: int) -> dict[int, bytes]:
    """What each socket received until the gateway closed it, once `wanted` have closed."""
    received: dict[int, bytes] = {}
    closed: set[int] = set()
    deadline = time.monotonic() + WAIT
    while len(closed) < wanted and time.monotonic() < deadline:
        open_ones = [s for s in sockets if s.fileno() not in closed]
        readable, _, _ = select.select(open_ones, [], [], 0.2)
        for sock in readable:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                received[sock.fileno()] = received.get(sock.fileno(), b"") + chunk
            else:
                closed.add(sock.fileno())
    return {fileno: received.get(fileno, b"") for fileno in closed}


def test_idle_sockets_past_the_cap_cannot_starve_a_mint(tmp_path: Path, stub: RunningStub) -> None:
    settings = {
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_RATE_LIMIT": "1000/minute",
        "GATEWAY_HEADER_TIMEOUT": "120",  # idle sockets under the cap stay for the test
    }
    with gateway_process(tmp_path, nofile=NOFILE, **settings) as gateway:
        cap = logged_cap(gateway.output())
        reserve = descriptor_reserve(
            load_settings(
                api_keys=[f"acme:{TENANT_KEY}"],
                provider_endpoint=stub.ga_endpoint,
                allowed_endpoints=[stub.ga_endpoint],
            )
        ).total
        assert cap == NOFILE - reserve
        idle = [socket.create_connection(("127.0.0.1", gateway.port), 5) for _ in range(cap)]
        idle += [socket.create_connection(("127.0.0.1", gateway.port), 5) for _ in range(OVER_CAP)]
        try:
            refused = answers_of(idle, OVER_CAP)
            assert len(refused) == OVER_CAP, f"{len(refused)} over-cap sockets were let go"
            for answer in refused.values():
                head, _, body = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 503 "), answer[:200]
                assert json.loads(body)["error_code"] == "server_busy"
            minted = httpx.post(
                gateway.base_url + "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers={"Authorization": f"Bearer {TENANT_KEY}"},
                timeout=WAIT,
            )
        finally:
            for sock in idle:
                sock.close()
        assert minted.status_code in (200, 503), minted.text
        if minted.status_code == 503:
            assert minted.json()["error_code"] == "server_busy"
        deadline = time.monotonic() + WAIT
        status = 0
        while status != 200 and time.monotonic() < deadline:  # slots come back as they close
            status = httpx.post(
                gateway.base_url + "/realtime_session",
                json={"model": "gpt-realtime", "voice": "verse"},
                headers={"Authorization": f"Bearer {TENANT_KEY}"},
                timeout=WAIT,
            ).status_code
        assert status == 200
        assert "Traceback" not in gateway.output()
