"""The memory leash store with a fake clock: deadlines, grace, claims and the UTC day."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls
from realtime_gateway.gateway.leash.memory_store import MemoryLeashStore
from realtime_gateway.gateway.leash.policy import TenantPolicy

MIDNIGHT = 1_790_000_000 - 1_790_000_000 % 86400  # a UTC midnight


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_call_never_seen_to_end_frees_its_slot_after_deadline_and_grace() -> None:
    clock = FakeClock(MIDNIGHT + 100)
    store = MemoryLeashStore(grace_seconds=30, clock=clock)
    policy = TenantPolicy(max_call_seconds=60, max_concurrent_calls=1)
    await store.admit("acme", "call_a", policy)
    clock.now += 89
    with pytest.raises(TooManyCalls):
        await store.admit("acme", "call_b", policy)
    clock.now += 1
    await store.admit("acme", "call_b", policy)


async def test_due_calls_are_claimed_once_until_the_claim_lapses() -> None:
    clock = FakeClock(MIDNIGHT + 100)
    store = MemoryLeashStore(grace_seconds=30, clock=clock)
    policy = TenantPolicy(max_call_seconds=60)
    await store.admit("acme", "call_a", policy)
    await store.attach("acme", "call_a", "openai", "rtc_1")
    assert await store.claim_due("acme", policy, claim_seconds=10) == []
    clock.now += 60
    [due] = await store.claim_due("acme", policy, claim_seconds=10)
    assert (due.reason, due.provider_call_id, due.past_grace) == ("max_duration", "rtc_1", False)
    assert await store.claim_due("acme", policy, claim_seconds=10) == []
    clock.now += 30
    [again] = await store.claim_due("acme", policy, claim_seconds=10)
    assert again.past_grace


async def test_the_budget_resets_at_utc_midnight() -> None:
    clock = FakeClock(MIDNIGHT - 100)
    store = MemoryLeashStore(clock=clock)
    policy = TenantPolicy(daily_audio_seconds=50)
    await store.admit("acme", "call_a", policy)
    clock.now += 60
    end = await store.end("acme", "call_a", "caller_hangup")
    assert end is not None and end.seconds == 60
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit("acme", "call_b", policy)
    assert refused.value.headers["Retry-After"] == "40"
    clock.now += 40
    await store.admit("acme", "call_b", policy)
    yesterday = (await store.usage("acme", 2))[1]
    assert (yesterday.calls, yesterday.audio_seconds) == (1, 60)


async def test_ended_calls_are_forgotten_after_a_day() -> None:
    clock = FakeClock(MIDNIGHT + 100)
    store = MemoryLeashStore(clock=clock)
    policy = TenantPolicy(max_concurrent_calls=5000)
    for index in range(1001):
        await store.admit("acme", f"call_{index}", policy)
        await store.end("acme", f"call_{index}", "caller_hangup")
    assert await store.status("acme", "call_0") is not None  # readable on the day
    clock.now += 86401
    await store.admit("acme", "call_next", policy)
    assert await store.status("acme", "call_0") is None
    assert (await store.usage("acme", 2))[1].calls == 1001  # the ledger keeps its count
