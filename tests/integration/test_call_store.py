"""The call store's contract, in process and on a real redis-server (the same tests for both):
call tokens, admission under the cap and the budget, a call's life, one end per call, usage
counted once, and every operation safe to run twice."""

from __future__ import annotations

import asyncio

import pytest

from realtime_gateway.gateway.calls.memory_store import MemoryCallStore
from realtime_gateway.gateway.calls.store import DAY_MS, UsageReport, ms_to_midnight
from realtime_gateway.gateway.calls.tokens import mint_token, token_tenant
from realtime_gateway.gateway.errors import QuotaExceeded, TooManyCalls, Unauthorized
from realtime_gateway.gateway.policy import TenantPolicy
from tests.fixtures.call_stores import SPEC, MakeStore, admit_request, new_call_id, open_call

CAP_5 = TenantPolicy(max_concurrent_calls=5)


def test_token_names_its_tenant_and_carries_192_random_bits() -> None:
    token = mint_token("acme")
    assert token.startswith("ek_rtg_") and token_tenant(token) == "acme"
    assert len(token.split(".")[0]) - len("ek_rtg_") == 32  # 32 base64url chars = 192 bits
    assert mint_token("acme") != token
    assert token_tenant("ek_rtg_short.acme") is None
    assert token_tenant("sk-anything") is None


async def test_a_token_makes_one_call_and_says_what_it_was_minted_for(
    make_store: MakeStore,
) -> None:
    store = make_store()
    token = mint_token("acme")
    await store.put_grant(token, "acme", SPEC, 60)
    admitted = await store.admit(admit_request(token=token))
    assert admitted.spec == SPEC and admitted.state == "admitted"
    with pytest.raises(Unauthorized):
        await store.admit(admit_request(token=token))


async def test_concurrent_redemptions_across_replicas_have_one_winner(
    make_redis_store: MakeStore,
) -> None:
    replicas = [make_redis_store(), make_redis_store()]
    token = mint_token("acme")
    await replicas[0].put_grant(token, "acme", SPEC, 60)

    async def redeem(index: int) -> bool:
        try:
            await replicas[index % 2].admit(admit_request(token=token))
        except Unauthorized:
            return False
        return True

    assert (await asyncio.gather(*(redeem(i) for i in range(20)))).count(True) == 1


async def test_forged_unknown_and_expired_tokens_admit_nothing(make_store: MakeStore) -> None:
    store = make_store()
    token = mint_token("acme")
    await store.put_grant(token, "acme", SPEC, 60)
    forged = token.rsplit(".", 1)[0] + ".globex"  # same secret, another tenant named
    with pytest.raises(Unauthorized):
        await store.admit(admit_request("globex", token=forged))
    with pytest.raises(Unauthorized):
        await store.admit(admit_request(token=mint_token("acme")))
    stale = mint_token("acme")
    await store.put_grant(stale, "acme", SPEC, 1)
    await asyncio.sleep(1.5)
    with pytest.raises(Unauthorized):
        await store.admit(admit_request(token=stale))
    assert await store.slots_taken("acme") == 0


async def test_a_released_admission_gives_its_token_back(make_store: MakeStore) -> None:
    store = make_store()
    token = mint_token("acme")
    await store.put_grant(token, "acme", SPEC, 60)
    first = await store.admit(admit_request(token=token))
    await store.release("acme", first.call_id)
    second = await store.admit(admit_request(token=token))  # no call was made: still usable
    assert second.call_id != first.call_id
    assert await store.attach("acme", second.call_id, "rtc_1", "holder-a")
    with pytest.raises(Unauthorized):
        await store.admit(admit_request(token=token))


async def test_cap_holds_under_20_concurrent_admissions_across_replicas(
    make_redis_store: MakeStore,
) -> None:
    replicas = [make_redis_store(), make_redis_store()]

    async def admit(index: int) -> bool:
        try:
            await replicas[index % 2].admit(admit_request(policy=CAP_5))
        except TooManyCalls:
            return False
        return True

    assert (await asyncio.gather(*(admit(i) for i in range(20)))).count(True) == 5
    assert await replicas[1].slots_taken("acme") == 5


async def test_cap_is_per_tenant(make_store: MakeStore) -> None:
    store = make_store()
    one = TenantPolicy(max_concurrent_calls=1)
    await store.admit(admit_request("acme", one))
    await store.admit(admit_request("globex", one))
    with pytest.raises(TooManyCalls) as refused:
        await store.admit(admit_request("acme", one))
    assert (refused.value.status_code, refused.value.error_code) == (429, "too_many_calls")


async def test_an_admission_run_again_is_the_same_admission(make_store: MakeStore) -> None:
    """A reply lost after the script ran: the retry sees its own call, not a full cap."""
    store = make_store()
    one = TenantPolicy(max_concurrent_calls=1)
    request = admit_request(policy=one)
    first = await store.admit(request)
    again = await store.admit(request)
    assert (again.call_id, again.started_ms, again.deadline_ms) == (
        first.call_id,
        first.started_ms,
        first.deadline_ms,
    )
    assert await store.slots_taken("acme") == 1


async def test_one_end_per_call_and_the_slot_comes_back_once(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    two = TenantPolicy(max_concurrent_calls=2)
    ending = await open_call(first, policy=two)
    await open_call(first, policy=two)
    ends = await asyncio.gather(
        *(
            replica.end("acme", ending.call_id, reason, op)
            for replica, reason, op in [
                (first, "caller_hangup", "op-1"),
                (second, "max_duration", "op-2"),
                (first, "gateway_hangup", "op-3"),
            ]
        )
    )
    assert sum(end is not None for end in ends) == 1
    await second.admit(admit_request(policy=two))  # the one slot that came back
    with pytest.raises(TooManyCalls):
        await first.admit(admit_request(policy=two))
    assert (await first.usage("acme", 1))[0].calls == 1


async def test_an_end_run_again_is_reported_to_its_own_operation_only(
    make_store: MakeStore,
) -> None:
    """A reply lost after END ran: the retry still learns it ended the call (so its audit line,
    metric and report happen), and nobody else does."""
    store = make_store()
    call = await open_call(store)
    first = await store.end("acme", call.call_id, "caller_hangup", "op-mine")
    again = await store.end("acme", call.call_id, "caller_hangup", "op-mine")
    assert first is not None and again == first
    assert await store.end("acme", call.call_id, "max_duration", "op-other") is None
    assert (await store.usage("acme", 1))[0].calls == 1


async def test_usage_is_counted_once_per_response(make_store: MakeStore) -> None:
    """Two sidebands (a handover, or the tenant's own) report one response: counted once."""
    store = make_store()
    call = await open_call(store)
    done = UsageReport(response_id="resp_1", tokens_in=10, tokens_out=20)
    for _ in range(3):
        await store.add_usage("acme", call.call_id, done)
    await store.add_usage("acme", call.call_id, UsageReport("resp_2", tokens_in=1, tokens_out=2))
    end = await store.end("acme", call.call_id, "caller_hangup", "op")
    assert end is not None and (end.tokens_in, end.tokens_out) == (11, 22)


async def test_provider_audio_is_cumulative_and_bills_the_call(make_store: MakeStore) -> None:
    store = make_store()
    call = await open_call(store)
    for seconds in (1.0, 3.5, 2.0):  # a late, smaller figure changes nothing
        await store.add_usage("acme", call.call_id, UsageReport(audio_ms=int(seconds * 1000)))
    end = await store.end("acme", call.call_id, "provider_closed", "op")
    assert end is not None and end.billed_ms == 3500
    today = (await store.usage("acme", 1))[0]
    assert (today.calls, today.audio_ms, today.by_transport) == (1, 3500, {"webrtc": (1, 3500)})


async def test_a_hang_up_stops_the_calls_clock_and_names_the_providers_close(
    make_store: MakeStore,
) -> None:
    store = make_store()
    call = await open_call(store)
    await store.mark_ending("acme", call.call_id, "caller_hangup", 10_000)
    await asyncio.sleep(1.2)  # the provider takes its time to confirm
    end = await store.end("acme", call.call_id, "provider_closed", "op")
    assert end is not None and end.reason == "caller_hangup"
    assert end.billed_ms < 1000  # billed up to the hang-up request, not the confirmation


async def test_spent_budget_refuses_with_retry_after_to_midnight(make_store: MakeStore) -> None:
    store = make_store()
    budget = TenantPolicy(daily_audio_seconds=60)
    call = await open_call(store, policy=budget)
    await store.add_usage("acme", call.call_id, UsageReport("r", 10, 20, audio_ms=61_500))
    end = await store.end("acme", call.call_id, "caller_hangup", "op")
    assert end is not None and (end.seconds, end.tokens_in, end.tokens_out) == (61.5, 10, 20)
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit(admit_request(policy=budget))
    retry_after = int(refused.value.headers["Retry-After"])
    expected = ms_to_midnight(await store.now_ms()) / 1000
    assert 0 < retry_after <= DAY_MS / 1000 and abs(retry_after - expected) <= 2
    await store.admit(admit_request("globex", budget))  # another tenant's budget is its own


async def test_live_calls_count_against_the_budget(make_store: MakeStore) -> None:
    store = make_store()
    budget = TenantPolicy(daily_audio_seconds=100)
    running = await open_call(store, policy=budget)
    await store.add_usage("acme", running.call_id, UsageReport(audio_ms=100_000))
    assert await store.spent_today_ms("acme") == 100_000
    with pytest.raises(QuotaExceeded):
        await store.admit(admit_request(policy=budget))


async def test_a_released_admission_counts_nothing(make_store: MakeStore) -> None:
    store = make_store()
    one = TenantPolicy(max_concurrent_calls=1)
    admitted = await store.admit(admit_request(policy=one))
    await store.release("acme", admitted.call_id)
    await store.release("acme", admitted.call_id)  # twice: still one slot back
    assert not await store.attach("acme", admitted.call_id, "rtc_late", "holder-a")
    await store.admit(admit_request(policy=one))
    assert (await store.usage("acme", 1))[0].calls == 0
    assert await store.end("acme", admitted.call_id, "caller_hangup", "op") is None


async def test_the_record_is_the_one_view_of_a_call(make_store: MakeStore) -> None:
    store = make_store()
    first = await open_call(store)
    second = await open_call(store)
    oldest_first = sorted([first, second], key=lambda r: (r.started_ms, r.call_id))
    assert [r.call_id for r in await store.live_calls("acme")] == [r.call_id for r in oldest_first]
    assert await store.get("globex", first.call_id) is None
    await store.end("acme", first.call_id, "caller_hangup", "op")
    ended = await store.get("acme", first.call_id)
    assert ended is not None and (ended.state, ended.ended_reason) == ("ended", "caller_hangup")
    assert [r.call_id for r in await store.live_calls("acme")] == [second.call_id]
    public = ended.to_public(await store.now_ms())
    assert first.provider_call_id not in str(public) and "holder" not in str(public)
    assert public["status"] == "ended" and public["started_at"].endswith("Z")


async def test_an_overdue_call_is_claimed_and_ended_not_dropped() -> None:
    """The memory store once pruned overdue calls from the set its reaper reads: the call
    showed `live` for ever and never reached the ledger."""
    now = [1_000_000_000_000]
    store = MemoryCallStore(grace_ms=1000, clock=lambda: now[0])
    policy = TenantPolicy(max_call_seconds=1, max_concurrent_calls=1)
    call = await open_call(store, policy=policy)
    now[0] += 5000  # far past deadline and grace, nobody reaped meanwhile
    await store.admit(admit_request(policy=policy))  # its slot is free for admission ...
    found = await store.claim_due("acme", policy, 10_000)
    assert [(c.record.call_id, c.reason, c.past_grace) for c in found.claims] == [
        (call.call_id, "max_duration", True)
    ]  # ... but it is still there to be ended and counted
    end = await store.end("acme", call.call_id, "max_duration", "op")
    assert end is not None and end.billed_ms == 5000
    assert (await store.usage("acme", 1))[0].calls == 1


async def test_ended_calls_are_forgotten_after_a_day_in_process() -> None:
    now = [1_000_000_000_000]
    store = MemoryCallStore(clock=lambda: now[0])
    ended = await open_call(store)
    await store.end("acme", ended.call_id, "caller_hangup", "op")
    now[0] += DAY_MS + 1
    for _ in range(1001):  # past the size at which admission sweeps
        await store.admit(admit_request("t" + new_call_id()))
    assert await store.get("acme", ended.call_id) is None


async def test_the_ledger_keeps_400_days(make_store: MakeStore) -> None:
    """No store grows for ever: a day's figures go once it is 400 days old."""
    now = [1_700_000_000_000]
    store = make_store(clock=lambda: now[0])
    first = await open_call(store)
    await store.end("acme", first.call_id, "caller_hangup", "op-1")
    assert (await store.usage("acme", 1))[0].calls == 1
    now[0] += 399 * DAY_MS
    assert [d.calls for d in await store.usage("acme", 400)][-1] == 1  # still there
    now[0] += DAY_MS
    second = await open_call(store)
    await store.end("acme", second.call_id, "caller_hangup", "op-2")
    days = await store.usage("acme", 401)
    assert days[0].calls == 1 and sum(d.calls for d in days) == 1


async def test_remember_says_true_once_per_scope_across_replicas(make_store: MakeStore) -> None:
    """What refuses a replayed webhook and acts on a provider's call once: concurrent askers
    on two stores over the same backend get one True between them."""
    first, second = make_store(), make_store()
    shared = first if first.backend == "memory" else second  # a memory store shares nothing
    answers = await asyncio.gather(
        *(store.remember("webhooks", "wh_1", 60_000) for store in (first, shared) * 5)
    )
    assert sorted(answers) == [False] * 9 + [True]
    assert await first.remember("acme", "wh_1", 60_000)  # another scope
    assert not await first.remember("acme", "wh_1", 60_000)


async def test_remember_forgets_after_its_ttl_by_the_store_clock() -> None:
    now = [1_000_000]
    store = MemoryCallStore(clock=lambda: now[0])
    assert await store.remember("webhooks", "wh_1", 1000)
    now[0] += 999
    assert not await store.remember("webhooks", "wh_1", 1000)
    now[0] += 1
    assert await store.remember("webhooks", "wh_1", 1000)
