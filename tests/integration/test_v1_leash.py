"""The leash holds for every call made through `/v1`, with OpenAI's Python SDK on a real
redis-server: the cap under concurrent creations (token and tenant calls alike), the deadline
and the budget hanging calls up at the provider, and the ledger counting each call once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from tests.fixtures.gateway import GatewayFactory, RunningGateway, wired_to
from tests.fixtures.stub import RunningStub, new_caller
from tests.integration.test_leash_brokered import offer_sdp
from tests.integration.test_openai_sdk import SESSION, call_state, until_ended, v1

WAIT = 20.0


def leashed(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str, **policy: Any
) -> RunningGateway:
    return gateway_factory(
        **wired_to(stub, redis_url=redis_url, rate_limit="1000/minute", **policy)
    )


async def create(client: AsyncOpenAI, sdp: str, **session: Any) -> str:
    """A call's gateway id, or the refusal's code."""
    try:
        raw = await client.realtime.calls.with_raw_response.create(sdp=sdp, **session)
    except openai.APIStatusError as refusal:
        assert refusal.status_code == 429, refusal
        return str(refusal.code)
    assert raw.status_code == 201
    return str(raw.headers["location"].rsplit("/", 1)[-1])


async def usage(gateway: RunningGateway) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=WAIT) as http:
        body: dict[str, Any] = (await http.get("/usage", headers=gateway.auth())).json()
    return body


async def test_the_cap_holds_for_token_and_tenant_calls_created_at_once(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url, max_concurrent_calls=3)
    sdp = await offer_sdp()
    tenant = v1(gateway)
    tokens = [
        (await tenant.realtime.client_secrets.create(session=SESSION)).value  # type: ignore[arg-type]
        for _ in range(6)
    ]
    outcomes = await asyncio.gather(
        *(create(v1(gateway, token), sdp) for token in tokens),
        *(create(tenant, sdp, session=SESSION) for _ in range(6)),
    )
    calls = [outcome for outcome in outcomes if outcome.startswith("call_")]
    assert len(calls) == 3
    assert sorted(set(outcomes) - set(calls)) == ["too_many_calls"]
    assert len(stub.state.calls) == 3  # a refused call never reached the provider
    assert (await usage(gateway))["live_calls"] == 3

    await tenant.realtime.calls.hangup(calls[0])
    assert (await create(tenant, sdp, session=SESSION)).startswith("call_")  # its slot, once
    assert await create(tenant, sdp, session=SESSION) == "too_many_calls"
    ledger = await usage(gateway)
    assert ledger["today"]["calls"] == 1 and ledger["live_calls"] == 3


async def test_the_deadline_and_the_ledger_for_a_v1_call(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url, max_call_seconds=2)
    caller = await new_caller(tone_seconds=0.0)
    try:
        raw = await v1(gateway).realtime.calls.with_raw_response.create(
            sdp=caller.pc.localDescription.sdp,
            session=SESSION,  # type: ignore[arg-type]
        )
        call_id = raw.headers["location"].rsplit("/", 1)[-1]
        assert (await call_state(gateway, call_id))["status"] == "live"
        state = await until_ended(gateway, call_id)
    finally:
        await caller.close()
    assert state["ended_reason"] == "max_duration"
    assert stub.state.calls[0].ended  # hung up at the provider, not only forgotten
    ledger = await usage(gateway)
    assert ledger["today"]["calls"] == 1
    assert 2 <= ledger["today"]["audio_seconds"] <= 2 + WAIT


async def test_the_budget_ends_a_v1_call_and_refuses_the_next(
    gateway_factory: GatewayFactory, stub: RunningStub, redis_url: str
) -> None:
    gateway = leashed(gateway_factory, stub, redis_url, daily_audio_seconds=1)
    tenant = v1(gateway)
    secret = await tenant.realtime.client_secrets.create(session=SESSION)  # type: ignore[arg-type]
    caller = await new_caller(tone_seconds=0.0)
    try:
        raw = await v1(gateway, secret.value).realtime.calls.with_raw_response.create(
            sdp=caller.pc.localDescription.sdp
        )
        state = await until_ended(gateway, raw.headers["location"].rsplit("/", 1)[-1])
    finally:
        await caller.close()
    assert state["ended_reason"] == "quota_exceeded"
    with pytest.raises(openai.RateLimitError) as refused:
        await tenant.realtime.calls.create(sdp=await offer_sdp(), session=SESSION)  # type: ignore[arg-type]
    assert refused.value.code == "quota_exceeded"
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 86400
    assert (await usage(gateway))["today"]["calls"] == 1
