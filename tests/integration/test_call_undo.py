"""Every admission ends in exactly one of: a live call recorded with its provider id, or a
released slot (and call token) with the provider's call, if one was made, hung up. Against a
real redis-server behind a proxy that can make it vanish, and a provider seam that answers as a
broken provider would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.store import StoreUnavailable
from realtime_gateway.gateway.calls.tokens import mint_token
from realtime_gateway.gateway.errors import ProviderError
from realtime_gateway.gateway.leash.reaper import Reaper
from realtime_gateway.gateway.policy import Policies, TenantPolicy
from realtime_gateway.gateway.providers.call_http import UpstreamReply
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.call_service import RecordingProvider, make_calls
from tests.fixtures.call_stores import SPEC
from tests.fixtures.servers import RedisServer
from tests.integration.reset_proxy import ResetProxy, reset_proxy

ONE = TenantPolicy(max_concurrent_calls=1)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


class BrokenProvider(RecordingProvider):
    """Creates calls as told (`answer`), then records hang-ups as the recording provider does;
    `on_create` runs once the provider has made its call, before it answers."""

    def __init__(self, answer: UpstreamReply) -> None:
        super().__init__()
        self.answer = answer
        self.on_create: Callable[[], None] = lambda: None

    async def post(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamReply:
        if url.endswith("/hangup"):
            return await super().post(url, headers=headers, body=body, timeout=timeout)
        self.on_create()
        return self.answer


@pytest.fixture
async def proxied(
    redis_server: RedisServer, redis_url: str
) -> AsyncIterator[tuple[ResetProxy, RedisCallStore]]:
    async with reset_proxy(redis_server.port) as proxy:
        store = RedisCallStore(make_client(proxy.url), owns_client=True)
        yield proxy, store
        await store.aclose()


async def test_a_malformed_answer_hangs_the_providers_call_up_and_gives_all_back(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    _, store = proxied
    provider = BrokenProvider(UpstreamReply(201, b"<html>oops</html>", "/v1/realtime/calls/rtc_m"))
    calls, ends = make_calls(store, provider, Policies(ONE))
    token = mint_token("acme")
    await store.put_grant(token, "acme", SPEC, 60)
    admission = await calls.admit("acme", "webrtc", token=token)
    with pytest.raises(ProviderError, match="not SDP"):
        await calls.connect_webrtc(admission, SDP)
    assert provider.hung_up["rtc_m"] == 1  # the call the provider made does not run on
    assert await store.slots_taken("acme") == 0
    await calls.admit("acme", "webrtc", token=token)  # the token made no call: still good
    assert not ends.seen


async def test_a_store_gone_before_the_call_is_recorded_hangs_it_up_and_refuses(
    proxied: tuple[ResetProxy, RedisCallStore],
) -> None:
    """Redis fails over between the provider creating the call and the gateway recording it:
    the call is hung up at once (its id is known), the caller gets 503, and the slot the
    admission took comes back (released now, or by a reaper after the attach window), never
    billed."""
    proxy, store = proxied
    provider = BrokenProvider(UpstreamReply(201, SDP.encode(), "/v1/realtime/calls/rtc_lost"))
    provider.on_create = proxy.go_down
    calls, ends = make_calls(store, provider, Policies(ONE), attach_window_ms=1000)
    admission = await calls.admit("acme", "webrtc", spec=SPEC)
    with pytest.raises(StoreUnavailable):
        await calls.connect_webrtc(admission, SDP)
    assert provider.hung_up["rtc_lost"] == 1
    proxy.down = False  # Redis is back
    reaper = Reaper(calls, interval=0.05)
    reaper.start()
    try:
        async with asyncio.timeout(15):
            while await store.slots_taken("acme"):
                await asyncio.sleep(0.05)
    finally:
        await reaper.aclose()
    assert (await store.usage("acme", 1))[0].calls == 0 and not ends.seen
    await calls.admit("acme", "webrtc", spec=SPEC)  # the cap of 1 is free again
