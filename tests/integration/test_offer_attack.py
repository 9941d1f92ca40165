"""Hostile offers to a real `realtime-gateway serve` in brokered mode: the multipart bodies
that froze a replica (1,500 nested parts, 20,000 `(` in a part header, 7,000 empty parts), sent
with a made-up call token by three senders at once, are each answered with the documented 400
or 401 body, and `/healthz` keeps answering while they run. How many milliseconds each costs is
measured by `python -m bench --only offers`, not asserted here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.offer_attack import ATTACKS
from tests.fixtures.processes import GatewayProcess, gateway_process

TENANT_KEY = "rtg_offer_attack_acme_4f1e9a7c2b"
MADE_UP_TOKEN = "rtg_ct_" + "A" * 32 + ".acme"
SENDERS = 3
HEALTH_PROBES = 20
WAIT = 30.0  # bounds each request: "answered", not "how fast"


@dataclass
class Sender:
    answers: list[tuple[str, int, object]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.answers)


def send_until(gateway: GatewayProcess, sender: Sender, stop: threading.Event) -> None:
    with httpx.Client(timeout=WAIT) as client:
        while not stop.is_set():
            for name, (content_type, body) in ATTACKS.items():
                try:
                    answer = client.post(
                        gateway.base_url + "/realtime_calls",
                        content=body,
                        headers={
                            "Authorization": f"Bearer {MADE_UP_TOKEN}",
                            "Content-Type": content_type,
                        },
                    )
                except httpx.HTTPError as error:
                    sender.failures.append(f"{name}: {type(error).__name__}")
                    return
                try:
                    parsed: object = answer.json()
                except ValueError:
                    parsed = answer.text[:200]
                with sender.lock:
                    sender.answers.append((name, answer.status_code, parsed))


@pytest.fixture
def brokered(tmp_path: Path) -> Iterator[GatewayProcess]:
    with gateway_process(
        tmp_path,
        OPENAI_API_KEY="sk-unused-offer-attack",
        GATEWAY_API_KEYS=f"acme:{TENANT_KEY}",
        GATEWAY_CALL_MODE="brokered",
        GATEWAY_PROVIDER_ENDPOINT="http://127.0.0.1:9/v1/realtime/client_secrets",
        GATEWAY_ALLOWED_ENDPOINTS="http://127.0.0.1:9/v1/realtime/client_secrets",
        # The largest offer the settings allow: every attack body reaches the parser.
        GATEWAY_MAX_OFFER_BYTES=str(1024 * 1024),
    ) as gateway:
        yield gateway


def test_attack_bodies_get_400_or_401_and_healthz_answers_meanwhile(
    brokered: GatewayProcess,
) -> None:
    senders = [Sender() for _ in range(SENDERS)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=send_until, args=(brokered, sender, stop), daemon=True)
        for sender in senders
    ]
    for thread in threads:
        thread.start()
    health: list[int] = []
    try:
        while sum(sender.count() for sender in senders) == 0:  # the attack is under way
            if any(sender.failures for sender in senders) or not any(
                thread.is_alive() for thread in threads
            ):
                break
            threading.Event().wait(0.01)
        answered_before = sum(sender.count() for sender in senders)
        with httpx.Client(timeout=WAIT) as client:
            for _ in range(HEALTH_PROBES):
                health.append(client.get(brokered.base_url + "/healthz").status_code)
        answered_after = sum(sender.count() for sender in senders)
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT * 2)
    assert not [f for sender in senders for f in sender.failures]
    assert health == [200] * HEALTH_PROBES
    assert answered_after > answered_before > 0, "the attack did not run beside /healthz"
    for name, status, body in (answer for sender in senders for answer in sender.answers):
        assert status in (400, 401), (name, status, body)
        assert isinstance(body, dict) and set(body) == {"error_code", "message"}, (name, body)
        assert body["error_code"] == {400: "invalid_request", 401: "unauthorized"}[status]
    seen = {name for sender in senders for name, _, _ in sender.answers}
    assert seen == set(ATTACKS)
    output = brokered.output()
    assert "Traceback" not in output and "RecursionError" not in output
