"""Every store script is safe to run twice, and the Redis clients do run them twice: redis-py
sends a command again on a fresh connection when the first breaks after it was sent. A proxy
in front of a real redis-server lets the script run and then resets the connection (the reply
is lost), or holds the reply back past the client's 0.5 s timeout; the answer a caller gets, and
what is counted, must be what one run would have given."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from realtime_gateway.gateway.calls import scripts
from realtime_gateway.gateway.calls.memory_store import MemoryCallStore
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.calls.tokens import mint_token
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.policy import Policies, TenantPolicy
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.call_service import RecordingProvider, make_calls
from tests.fixtures.call_stores import SPEC, admit_request, open_call
from tests.fixtures.servers import RedisServer
from tests.integration.reset_proxy import ResetProxy, reset_proxy

ONE = TenantPolicy(max_concurrent_calls=1)


def sha(script: str) -> bytes:
    return hashlib.sha1(script.encode()).hexdigest().encode()


@pytest.fixture
async def proxied(
    redis_server: RedisServer, redis_url: str
) -> AsyncIterator[tuple[ResetProxy, RedisCallStore]]:
    async with reset_proxy(redis_server.port) as proxy:
        store = RedisCallStore(make_client(proxy.url), owns_client=True)
        await store.now_ms()  # scripts are loaded lazily: load them before arming
        yield proxy, store
        await store.aclose()


async def test_a_lost_admission_reply_is_the_same_admission(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    proxy, store = proxied
    await store.admit(admit_request("warm", ONE))  # the script is known to the server
    proxy.reset_after(sha(scripts.ADMIT))
    admitted = await store.admit(admit_request(policy=ONE))  # the cap is 1: its own call
    assert proxy.resets == 1 and admitted.state == "admitted"
    assert await store.slots_taken("acme") == 1


async def test_a_lost_token_redemption_reply_does_not_burn_the_token(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    proxy, store = proxied
    await store.admit(admit_request("warm", ONE))
    token = mint_token("acme")
    await store.put_grant(token, "acme", SPEC, 60)
    proxy.reset_after(sha(scripts.ADMIT))
    admitted = await store.admit(admit_request(token=token))
    assert proxy.resets == 1 and admitted.spec == SPEC  # not 401 for its own token


async def test_a_lost_end_reply_still_tells_its_caller_it_ended_the_call(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    proxy, store = proxied
    call = await open_call(store)
    warm = await open_call(store, "warm")
    await store.end("warm", warm.call_id, "caller_hangup", "op-warm")
    proxy.reset_after(sha(scripts.END))
    end = await store.end("acme", call.call_id, "caller_hangup", "op-1")
    assert proxy.resets == 1 and end is not None and end.reason == "caller_hangup"
    assert (await store.usage("acme", 1))[0].calls == 1


async def test_a_lost_usage_reply_counts_the_tokens_once(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    proxy, store = proxied
    call = await open_call(store)
    await store.add_usage("acme", call.call_id, UsageReport("resp_0", 1, 1))
    proxy.reset_after(sha(scripts.USAGE))
    await store.add_usage("acme", call.call_id, UsageReport("resp_1", 10, 20))
    end = await store.end("acme", call.call_id, "caller_hangup", "op")
    assert proxy.resets == 1 and end is not None and (end.tokens_in, end.tokens_out) == (11, 21)


async def test_lost_attach_and_release_replies_change_nothing_twice(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    proxy, store = proxied
    warm = await store.admit(admit_request("warm", ONE))
    await store.attach("warm", warm.call_id, "rtc_w", "holder-a")
    admitted = await store.admit(admit_request(policy=ONE))
    proxy.reset_after(sha(scripts.ATTACH))
    assert await store.attach("acme", admitted.call_id, "rtc_1", "holder-a")
    released = await store.admit(admit_request("globex", ONE))
    await store.release("globex", released.call_id)  # the script is known to the server
    again = await store.admit(admit_request("globex", ONE))
    proxy.reset_after(sha(scripts.RELEASE))
    await store.release("globex", again.call_id)
    assert proxy.resets == 2 and await store.slots_taken("globex") == 0


@pytest.mark.parametrize("slow_replies", [1, 2])
async def test_a_slow_admission_reply_leaves_no_phantom_call(
    proxied: tuple[ResetProxy, RedisCallStore], slow_replies: int
) -> None:
    """The admission's reply arrives after the client's timeout: the script ran. The service
    asks again (the same admission); if that reply is late too it admits by the failure mode
    (here `local`, in this process). Either way the tenant keeps no phantom slot past the
    attach window, and pays for no call it did not make."""
    proxy, store = proxied
    provider = RecordingProvider()
    calls, ends = make_calls(
        store,
        provider,
        Policies(ONE),
        attach_window_ms=1000,
        failure_mode="local",
        local=MemoryCallStore(),
    )
    await calls.admit("warm", "webrtc", spec=SPEC)
    proxy.delay_after(sha(scripts.ADMIT), 0.8, times=slow_replies)
    admission = await calls.admit("acme", "webrtc", spec=SPEC)
    assert proxy.delayed == slow_replies
    assert admission.store is (store if slow_replies == 1 else calls.local)
    await calls.abandon(admission)  # the caller went away before making the call
    reaper = Reaper(calls, interval=0.05)
    reaper.start()
    try:
        async with asyncio.timeout(15):
            while await store.slots_taken("acme"):
                await asyncio.sleep(0.05)
    finally:
        await reaper.aclose()
    again = await calls.admit("acme", "webrtc", spec=SPEC)  # the cap of 1 is free
    assert again.store is store
    assert (await store.usage("acme", 1))[0].calls == 0 and not ends.seen
