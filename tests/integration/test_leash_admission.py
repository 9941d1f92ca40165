"""The leash's admission against a real redis-server (and the memory store, same rules): the
live-call cap under concurrency, slots given back exactly once, the daily audio budget."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest

from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls
from realtime_gateway.gateway.leash.memory_store import MemoryLeashStore
from realtime_gateway.gateway.leash.policy import TenantPolicy
from realtime_gateway.gateway.leash.redis_store import RedisLeashStore
from realtime_gateway.gateway.leash.types import LeashStore, seconds_to_midnight

MakeStore = Callable[..., LeashStore]


@pytest.fixture(params=["redis", "memory"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    """Each call is a store with its own Redis pool, as a separate replica would have; with
    the memory backend, every "replica" is the one process's store."""
    made: list[LeashStore] = []
    memory = MemoryLeashStore()

    def make(grace_seconds: float = 30.0) -> LeashStore:
        if request.param == "memory":
            return memory
        url: str = request.getfixturevalue("redis_url")
        store = RedisLeashStore(url, grace_seconds=grace_seconds)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


def new_call_id() -> str:
    return "call_" + secrets.token_hex(8)


async def test_cap_holds_under_20_concurrent_creations(make_store: MakeStore) -> None:
    replicas = [make_store(), make_store()]
    policy = TenantPolicy(max_concurrent_calls=5)

    async def create(index: int) -> bool:
        try:
            await replicas[index % 2].admit("acme", new_call_id(), policy)
        except TooManyCalls:
            return False
        return True

    outcomes = await asyncio.gather(*(create(i) for i in range(20)))
    assert outcomes.count(True) == 5
    assert await replicas[0].live_count("acme") == 5


async def test_cap_is_per_tenant(make_store: MakeStore) -> None:
    store = make_store()
    policy = TenantPolicy(max_concurrent_calls=1)
    await store.admit("acme", new_call_id(), policy)
    await store.admit("globex", new_call_id(), policy)
    with pytest.raises(TooManyCalls) as refused:
        await store.admit("acme", new_call_id(), policy)
    assert refused.value.status_code == 429
    assert refused.value.body()["error_code"] == "too_many_calls"


async def test_a_slot_is_given_back_exactly_once(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    policy = TenantPolicy(max_concurrent_calls=2)
    ending = new_call_id()
    await first.admit("acme", ending, policy)
    await first.admit("acme", new_call_id(), policy)
    ends = await asyncio.gather(
        first.end("acme", ending, "caller_hangup"), second.end("acme", ending, "max_duration")
    )
    assert sum(end is not None for end in ends) == 1
    await second.admit("acme", new_call_id(), policy)  # the one slot that came back
    with pytest.raises(TooManyCalls):
        await first.admit("acme", new_call_id(), policy)
    today = (await first.usage("acme", 1))[0]
    assert today.calls == 1


async def test_a_released_admission_counts_nothing(make_store: MakeStore) -> None:
    store = make_store()
    policy = TenantPolicy(max_concurrent_calls=1)
    call_id = new_call_id()
    await store.admit("acme", call_id, policy)
    await store.release("acme", call_id)
    await store.admit("acme", new_call_id(), policy)
    assert (await store.usage("acme", 1))[0].calls == 0
    assert await store.end("acme", call_id, "caller_hangup") is None


async def test_spent_budget_refuses_with_retry_after_to_midnight(make_store: MakeStore) -> None:
    store = make_store()
    policy = TenantPolicy(daily_audio_seconds=60)
    call_id = new_call_id()
    await store.admit("acme", call_id, policy)
    await store.add_usage("acme", call_id, audio_seconds=61.5, tokens_in=10, tokens_out=20)
    end = await store.end("acme", call_id, "caller_hangup")
    assert end is not None and (end.seconds, end.tokens_in, end.tokens_out) == (61.5, 10, 20)
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit("acme", new_call_id(), policy)
    assert refused.value.body()["error_code"] == "quota_exceeded"
    retry_after = int(refused.value.headers["Retry-After"])
    assert abs(retry_after - seconds_to_midnight(time.time())) <= 2
    # Another tenant's budget is its own.
    await store.admit("globex", new_call_id(), policy)


async def test_live_calls_count_against_the_budget(make_store: MakeStore) -> None:
    store = make_store()
    policy = TenantPolicy(daily_audio_seconds=100)
    running = new_call_id()
    await store.admit("acme", running, policy)
    await store.add_usage("acme", running, audio_seconds=100)
    with pytest.raises(QuotaExceeded):
        await store.admit("acme", new_call_id(), policy)


async def test_a_call_never_seen_to_end_leaves_the_live_set_after_deadline_and_grace(
    redis_url: str,
) -> None:
    store = RedisLeashStore(redis_url, grace_seconds=0.2)
    policy = TenantPolicy(max_call_seconds=1, max_concurrent_calls=1)
    try:
        await store.admit("acme", new_call_id(), policy)
        with pytest.raises(TooManyCalls):
            await store.admit("acme", new_call_id(), policy)
        await asyncio.sleep(1.3)  # deadline (1 s) + grace (0.2 s) by Redis's clock
        await store.admit("acme", new_call_id(), policy)
    finally:
        await store.aclose()
