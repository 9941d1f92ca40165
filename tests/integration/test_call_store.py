"""The call store and call tokens, in process and in a real redis-server: the same contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from realtime_gateway.gateway.calls import (
    CallGrant,
    CallRecord,
    CallState,
    build_call_state,
    mint_token,
    new_call_id,
    token_tenant,
)
from realtime_gateway.gateway.calls.tokens import MemoryTokenStore
from realtime_gateway.gateway.settings import Settings


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[CallState]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings = Settings(api_keys=["acme:k"], redis_url=url)
    else:
        settings = Settings(api_keys=["acme:k"])
    call_state = build_call_state(settings)
    try:
        yield call_state
    finally:
        await call_state.aclose()


def grant(tenant: str = "acme", life: float = 60.0) -> CallGrant:
    return CallGrant(
        tenant, "gpt-realtime", "verse", "http://x/v1/realtime/client_secrets", time.time() + life
    )


def record(tenant: str = "acme", started: float = 1000.0) -> CallRecord:
    return CallRecord(
        call_id=new_call_id(),
        tenant=tenant,
        provider_call_id="rtc_provider_secret_id",
        wire="realtime",
        upstream_endpoint="http://x/v1/realtime/calls",
        model="gpt-realtime",
        voice="verse",
        started_at=started,
        deadline=started + 900,
        token_digest="d" * 64,
    )


def test_token_names_its_tenant_and_carries_192_random_bits() -> None:
    token = mint_token("acme")
    assert token.startswith("rtg_ct_") and token_tenant(token) == "acme"
    assert len(token.split(".")[0]) - len("rtg_ct_") == 32  # 32 base64url chars = 192 bits
    assert mint_token("acme") != token
    assert token_tenant("rtg_ct_short.acme") is None
    assert token_tenant("sk-anything") is None


async def test_token_redeems_once(state: CallState) -> None:
    token, granted = mint_token("acme"), grant()
    await state.tokens.put(token, granted)
    assert await state.tokens.redeem(token) == granted
    assert await state.tokens.redeem(token) is None


async def test_unknown_forged_and_expired_tokens_redeem_nothing(state: CallState) -> None:
    token = mint_token("acme")
    await state.tokens.put(token, grant())
    forged = token.rsplit(".", 1)[0] + ".globex"  # same secret, another tenant named
    assert await state.tokens.redeem(forged) is None
    assert await state.tokens.redeem(mint_token("acme")) is None
    assert await state.tokens.redeem("not-a-token") is None
    stale = mint_token("acme")
    await state.tokens.put(stale, grant(life=0.05))
    await asyncio.sleep(0.2)
    assert await state.tokens.redeem(stale) is None


async def test_concurrent_redemptions_have_one_winner(state: CallState) -> None:
    token = mint_token("acme")
    await state.tokens.put(token, grant())
    results = await asyncio.gather(*(state.tokens.redeem(token) for _ in range(20)))
    assert sum(result is not None for result in results) == 1


async def test_call_lifecycle(state: CallState) -> None:
    first, second = record(started=1000.0), record(started=1001.0)
    await state.calls.create(second)
    await state.calls.create(first)
    assert await state.calls.get("acme", first.call_id) == first
    assert await state.calls.get("globex", first.call_id) is None
    assert [r.call_id for r in await state.calls.list_live("acme")] == [
        first.call_id,
        second.call_id,
    ]
    await state.calls.add_usage("acme", first.call_id, audio_seconds=1.5, tokens=40)
    await state.calls.add_usage("acme", first.call_id, audio_seconds=0.5, tokens=2)
    ended = await state.calls.end("acme", first.call_id, "caller_hangup", 1010.0)
    assert ended is not None
    assert (ended.status, ended.ended_reason, ended.ended_at) == ("ended", "caller_hangup", 1010.0)
    assert (ended.audio_seconds, ended.tokens) == (2.0, 42)
    assert await state.calls.end("acme", first.call_id, "max_duration", 1011.0) is None
    assert await state.calls.get("acme", first.call_id) == ended
    assert [r.call_id for r in await state.calls.list_live("acme")] == [second.call_id]
    assert await state.calls.list_live("globex") == []


async def test_concurrent_ends_have_one_winner(state: CallState) -> None:
    call = record()
    await state.calls.create(call)
    results = await asyncio.gather(
        *(state.calls.end("acme", call.call_id, "gateway_hangup", 1005.0) for _ in range(10))
    )
    assert sum(result is not None for result in results) == 1


def test_public_view_hides_provider_handles() -> None:
    public = record().to_public()
    assert "rtc_provider_secret_id" not in str(public) and "d" * 64 not in str(public)
    assert public["status"] == "live" and public["started_at"].endswith("Z")


async def test_memory_tokens_do_not_pile_up() -> None:
    store = MemoryTokenStore()
    for _ in range(50):
        await store.put(mint_token("acme"), grant(life=-1.0))  # already expired
    live = mint_token("acme")
    await store.put(live, grant())
    for _ in range(20):
        await store.put(mint_token("acme"), grant())
    assert len(store) == 21  # the expired ones went, a few per put
    assert await store.redeem(live) is not None
