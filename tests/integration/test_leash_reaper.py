"""The reaper against a real redis-server: two replicas' reapers hang each due call up exactly
once, a failed hang-up is retried, a dead provider cannot hold a slot past the grace, and a spent
budget ends the tenant's live calls with `quota_exceeded`."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from realtime_gateway.gateway.leash.policy import Policies, TenantPolicy
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.leash.redis_store import RedisLeashStore
from realtime_gateway.gateway.leash.types import CallEnd, DueCall

WAIT = 15.0


class Provider:
    """The hang-up seam's far side: records every hang-up, fails while told to."""

    def __init__(self) -> None:
        self.hung_up: Counter[str] = Counter()
        self.failing = False

    async def hang_up(self, due: DueCall) -> None:
        if self.failing:
            raise ConnectionError("provider unreachable")
        assert due.provider_call_id is not None
        self.hung_up[due.provider_call_id] += 1


class Ends:
    def __init__(self) -> None:
        self.seen: list[CallEnd] = []

    async def __call__(self, end: CallEnd) -> None:
        self.seen.append(end)


MakeStore = Callable[..., RedisLeashStore]


@pytest.fixture
async def make_store(redis_url: str) -> AsyncIterator[MakeStore]:
    made: list[RedisLeashStore] = []

    def make(grace_seconds: float = 30.0) -> RedisLeashStore:
        store = RedisLeashStore(redis_url, grace_seconds=grace_seconds)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


async def admit_call(
    store: RedisLeashStore, policy: TenantPolicy, tenant: str = "acme"
) -> tuple[str, str]:
    call_id = "call_" + secrets.token_hex(8)
    provider_call_id = "rtc_" + secrets.token_hex(8)
    await store.admit(tenant, call_id, policy)
    await store.attach(tenant, call_id, "openai", provider_call_id)
    return call_id, provider_call_id


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.05)


async def test_two_replicas_hang_each_due_call_up_exactly_once(make_store: MakeStore) -> None:
    policy = TenantPolicy(max_call_seconds=1, max_concurrent_calls=20)
    policies = Policies(default=policy)
    provider, ends = Provider(), Ends()
    replicas = [make_store(), make_store()]
    calls = [await admit_call(replicas[i % 2], policy) for i in range(10)]
    reapers = [Reaper(store, policies, provider.hang_up, ends, interval=0.02) for store in replicas]
    for reaper in reapers:
        reaper.start()
    try:
        await until(lambda: len(ends.seen) == 10)
        await asyncio.sleep(0.3)  # more sweeps by both: nothing is hung up twice
    finally:
        for reaper in reapers:
            await reaper.stop()
    assert provider.hung_up == Counter({provider_call: 1 for _, provider_call in calls})
    assert {end.reason for end in ends.seen} == {"max_duration"}
    assert sorted(end.call_id for end in ends.seen) == sorted(call for call, _ in calls)
    today = (await replicas[0].usage("acme", 1))[0]
    assert today.calls == 10
    assert await replicas[0].live_count("acme") == 0


async def test_a_call_before_its_deadline_is_left_alone(make_store: MakeStore) -> None:
    policy = TenantPolicy(max_call_seconds=600)
    store = make_store()
    provider, ends = Provider(), Ends()
    await admit_call(store, policy)
    reaper = Reaper(store, Policies(default=policy), provider.hang_up, ends)
    assert await reaper.sweep() == []
    assert not provider.hung_up and await store.live_count("acme") == 1


async def test_a_failed_hang_up_is_retried_when_the_claim_lapses(make_store: MakeStore) -> None:
    policy = TenantPolicy(max_call_seconds=1)
    store = make_store()
    provider, ends = Provider(), Ends()
    _, provider_call = await admit_call(store, policy)
    reaper = Reaper(store, Policies(default=policy), provider.hang_up, ends, claim_seconds=0.3)
    provider.failing = True
    await asyncio.sleep(1.05)
    assert await reaper.sweep() == []
    assert await store.live_count("acme") == 1
    provider.failing = False
    assert await reaper.sweep() == []  # still claimed by the failed attempt
    await asyncio.sleep(0.35)
    [end] = await reaper.sweep()
    assert end.reason == "max_duration" and provider.hung_up[provider_call] == 1


async def test_an_unreachable_provider_cannot_hold_a_slot_past_the_grace(
    make_store: MakeStore,
) -> None:
    policy = TenantPolicy(max_call_seconds=1, max_concurrent_calls=1)
    store = make_store(grace_seconds=0.5)
    provider, ends = Provider(), Ends()
    await admit_call(store, policy)
    provider.failing = True
    reaper = Reaper(
        store,
        Policies(default=policy),
        provider.hang_up,
        ends,
        interval=0.05,
        claim_seconds=0.1,
        grace_seconds=0.5,
    )
    reaper.start()
    try:
        await until(lambda: len(ends.seen) == 1)
    finally:
        await reaper.stop()
    assert ends.seen[0].reason == "max_duration"
    await admit_call(store, policy)  # the slot came back


async def test_a_spent_budget_ends_every_live_call_of_the_tenant(make_store: MakeStore) -> None:
    budgeted = TenantPolicy(daily_audio_seconds=100)
    policies = Policies(default=TenantPolicy(), tenants={"acme": budgeted})
    store = make_store()
    provider, ends = Provider(), Ends()
    first, _ = await admit_call(store, budgeted)
    second, _ = await admit_call(store, budgeted)
    other, _ = await admit_call(store, TenantPolicy(), tenant="globex")
    reaper = Reaper(store, policies, provider.hang_up, ends)
    await store.add_usage("acme", first, audio_seconds=40)
    assert await reaper.sweep() == []
    await store.add_usage("acme", second, audio_seconds=60)
    ended = await reaper.sweep()
    assert sorted(end.call_id for end in ended) == sorted([first, second])
    assert {end.reason for end in ended} == {"quota_exceeded"}
    assert sum(end.seconds for end in ended) == 100
    assert await store.live_count("globex") == 1
    assert other not in [end.call_id for end in ended]
