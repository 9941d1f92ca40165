"""The reaper against a real redis-server (and in process): two replicas' reapers hang each
due call up exactly once, a failed hang-up is retried, a dead provider cannot hold a slot past
the grace, a slow hang-up stalls no other call, a spent budget ends the tenant's live calls, and
an admission that never went live is released uncounted (a phone call's hung up too)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from realtime_gateway.gateway.calls.service import Calls
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.policy import Policies, TenantPolicy
from tests.fixtures.call_service import RecordingProvider, make_calls
from tests.fixtures.call_stores import MakeStore, admit_request, open_call

WAIT = 15.0
ONE_SECOND = TenantPolicy(max_call_seconds=1, max_concurrent_calls=20)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.05)


async def opened(calls: Calls, tenant: str = "acme", policy: TenantPolicy = ONE_SECOND) -> str:
    """A live call, named to the reapers as the service names every admission."""
    await calls.fleet.touch(tenant)
    return (await open_call(calls.store, tenant, policy)).provider_call_id


async def test_two_replicas_hang_each_due_call_up_exactly_once(make_store: MakeStore) -> None:
    provider = RecordingProvider()
    replicas = [make_calls(make_store(), provider, Policies(ONE_SECOND)) for _ in range(2)]
    provider_calls = [await opened(replicas[i % 2][0]) for i in range(10)]
    reapers = [Reaper(calls, interval=0.02) for calls, _ in replicas]
    for reaper in reapers:
        reaper.start()
    try:
        await until(lambda: sum(len(ends.seen) for _, ends in replicas) == 10)
        await asyncio.sleep(0.5)  # more sweeps by both: nothing is hung up or counted twice
    finally:
        for reaper in reapers:
            await reaper.aclose()
    ended = [end for _, ends in replicas for end in ends.seen]
    assert provider.hung_up == Counter({call: 1 for call in provider_calls})
    assert {end.reason for end in ended} == {"max_duration"} and len(ended) == 10
    store = replicas[0][0].store
    assert (await store.usage("acme", 1))[0].calls == 10
    assert await store.slots_taken("acme") == 0


async def test_a_call_before_its_deadline_is_left_alone(make_store: MakeStore) -> None:
    provider = RecordingProvider()
    long_calls = TenantPolicy(max_call_seconds=600)
    calls, ends = make_calls(make_store(), provider, Policies(long_calls))
    await opened(calls, policy=long_calls)
    await Reaper(calls).sweep()
    assert not provider.hung_up and not ends.seen
    assert await calls.store.slots_taken("acme") == 1


async def test_a_failed_hang_up_is_retried_when_the_claim_lapses(make_store: MakeStore) -> None:
    provider = RecordingProvider()
    calls, ends = make_calls(make_store(), provider, Policies(ONE_SECOND), claim_ms=3000)
    provider_call = await opened(calls)
    provider.failing = True
    reaper = Reaper(calls, interval=0.05)
    reaper.start()
    try:
        await until(lambda: provider.asked[provider_call] == 1)
        assert not ends.seen and await calls.store.slots_taken("acme") == 1
        await asyncio.sleep(0.5)  # a claim that failed keeps the reapers off a while
        assert provider.asked[provider_call] == 1
        provider.failing = False
        await until(lambda: len(ends.seen) == 1)
    finally:
        await reaper.aclose()
    assert ends.seen[0].reason == "max_duration" and provider.hung_up[provider_call] == 1


async def test_an_unreachable_provider_cannot_hold_a_slot_past_the_grace(
    make_store: MakeStore,
) -> None:
    provider = RecordingProvider()
    provider.failing = True
    one = TenantPolicy(max_call_seconds=1, max_concurrent_calls=1)
    calls, ends = make_calls(make_store(grace_ms=500), provider, Policies(one), claim_ms=200)
    await opened(calls, policy=one)
    reaper = Reaper(calls, interval=0.05)
    reaper.start()
    try:
        await until(lambda: len(ends.seen) == 1)
    finally:
        await reaper.aclose()
    assert ends.seen[0].reason == "max_duration"
    await calls.store.admit(admit_request(policy=one))  # the slot came back


async def test_a_slow_hang_up_stalls_no_other_call_and_is_not_repeated(
    make_store: MakeStore,
) -> None:
    """One hang-up the provider is slow to answer: the other due calls end meanwhile, and the
    slow one is asked for once (its claim outlasts it), not again by a second replica."""
    provider = RecordingProvider()
    stores = [make_store(), make_store()]
    replicas = [make_calls(store, provider, Policies(ONE_SECOND)) for store in stores]
    slow = await opened(replicas[0][0])
    quick = [await opened(replicas[0][0]) for _ in range(3)]
    provider.held[slow] = asyncio.Event()
    reapers = [Reaper(calls, interval=0.05) for calls, _ in replicas]
    for reaper in reapers:
        reaper.start()
    try:
        await until(lambda: all(provider.hung_up[call] == 1 for call in quick))
        await until(lambda: sum(len(ends.seen) for _, ends in replicas) == 3)
        assert provider.asked[slow] == 1 and provider.hung_up[slow] == 0  # still waiting
        await asyncio.sleep(0.5)  # more sweeps by both: nobody asks again meanwhile
        assert provider.asked[slow] == 1
        provider.held[slow].set()
        await until(lambda: sum(len(ends.seen) for _, ends in replicas) == 4)
    finally:
        for reaper in reapers:
            await reaper.aclose()
    assert provider.hung_up[slow] == 1


async def test_a_spent_budget_ends_every_live_call_of_the_tenant(make_store: MakeStore) -> None:
    budgeted = TenantPolicy(daily_audio_seconds=100)
    policies = Policies(default=TenantPolicy(), tenants={"acme": budgeted})
    provider = RecordingProvider()
    calls, ends = make_calls(make_store(), provider, policies)
    store = calls.store
    first = await open_call(store, "acme", budgeted)
    second = await open_call(store, "acme", budgeted)
    await open_call(store, "globex")
    for tenant in ("acme", "globex"):
        await calls.fleet.touch(tenant)
    reaper = Reaper(calls)
    await store.add_usage("acme", first.call_id, UsageReport(audio_ms=40_000))
    await reaper.sweep()
    await asyncio.sleep(0.2)
    assert not ends.seen
    await store.add_usage("acme", second.call_id, UsageReport(audio_ms=60_000))
    await calls.fleet.touch("acme")  # due now (the reaper would also wake for it by itself)
    await reaper.sweep()
    await until(lambda: len(ends.seen) == 2)
    assert sorted(e.call_id for e in ends.seen) == sorted([first.call_id, second.call_id])
    assert {e.reason for e in ends.seen} == {"quota_exceeded"}
    assert sum(e.seconds for e in ends.seen) == 100
    assert await store.slots_taken("globex") == 1
    await reaper.aclose()


async def test_an_admission_that_never_went_live_is_released_uncounted(
    make_store: MakeStore,
) -> None:
    """The process that admitted it died before the provider answered (or before it could
    record the answer): a reaper gives the slot back after the attach window; nothing billed.
    A phone call's admission names the provider's call, which is hung up too."""
    provider = RecordingProvider()
    one = TenantPolicy(max_concurrent_calls=2)
    calls, ends = make_calls(make_store(), provider, Policies(one), attach_window_ms=500)
    await calls.fleet.touch("acme")
    await calls.store.admit(admit_request(policy=one, attach_window_ms=500))
    await calls.store.admit(
        admit_request(
            policy=one, attach_window_ms=500, transport="sip", provider_call_id="rtc_ringing"
        )
    )
    reaper = Reaper(calls, interval=0.05)
    reaper.start()
    try:
        await until(lambda: provider.hung_up["rtc_ringing"] == 1)
        async with asyncio.timeout(WAIT):
            while await calls.store.slots_taken("acme"):
                await asyncio.sleep(0.05)
    finally:
        await reaper.aclose()
    assert not ends.seen and (await calls.store.usage("acme", 1))[0].calls == 0


async def test_a_call_shorter_than_the_attach_window_is_hung_up_at_its_deadline(
    make_store: MakeStore,
) -> None:
    """The reaper had looked at the tenant while the call was only admitted: it must still wake
    at the deadline (1 s), not when the attach window (20 s) would have closed."""
    provider = RecordingProvider()
    calls, ends = make_calls(make_store(), provider, Policies(ONE_SECOND))
    reaper = Reaper(calls, interval=0.05)
    reaper.start()
    try:
        await calls.fleet.touch("acme")
        admitted = await calls.store.admit(admit_request(policy=ONE_SECOND))
        await asyncio.sleep(0.3)  # a sweep or more while it is only admitted
        assert await calls.store.attach("acme", admitted.call_id, "rtc_short", "holder-test")
        async with asyncio.timeout(10):  # well before the 20 s window
            while not ends.seen:
                await asyncio.sleep(0.05)
    finally:
        await reaper.aclose()
    assert ends.seen[0].reason == "max_duration" and provider.hung_up["rtc_short"] == 1
