"""The descriptor reserve (`gateway/descriptors.py`): counted from the pools the process opens,
and held to the classes that open them, so a pool that grows cannot outgrow the reserve."""

from __future__ import annotations

from realtime_gateway.gateway.descriptors import (
    BASE,
    CALL_POOL,
    MAX_REFUSED_LINGERING,
    REDIS_CLIENTS,
    SIDEBAND_CAP,
    descriptor_reserve,
)
from realtime_gateway.gateway.leash.sideband import AiohttpSidebands
from realtime_gateway.gateway.providers.call_http import AiohttpCallTransport
from realtime_gateway.gateway.providers.http1 import DEFAULT_MAX_CONNECTIONS, Http1Transport
from realtime_gateway.gateway.redisconn import POOL_SIZE, UNBLOCKED_POOL_SIZE, make_client
from realtime_gateway.gateway.settings import load_settings


async def test_the_figures_are_the_limits_of_the_clients_that_open_the_connections() -> None:
    assert Http1Transport().max_connections == DEFAULT_MAX_CONNECTIONS
    calls = AiohttpCallTransport()
    sidebands = AiohttpSidebands("sk-unused")
    try:
        assert calls._session.connector is not None
        assert calls._session.connector.limit == CALL_POOL
        session = sidebands._client()
        assert session.connector is not None and session.connector.limit == SIDEBAND_CAP
    finally:
        await calls.aclose()
        await sidebands.aclose()
    client = make_client("redis://127.0.0.1:9/0")
    assert client.connection_pool.max_connections == POOL_SIZE
    await client.aclose()


def test_the_reserve_without_redis_one_provider_origin() -> None:
    reserve = descriptor_reserve(load_settings(api_keys=["acme:k"]))
    assert reserve.provider == DEFAULT_MAX_CONNECTIONS  # every default endpoint is OpenAI's
    assert reserve.redis == 0
    relays = 100  # GATEWAY_WS_MAX_SESSIONS's default: one provider socket per session
    assert reserve.relays == relays
    assert reserve.total == (
        DEFAULT_MAX_CONNECTIONS + CALL_POOL + SIDEBAND_CAP + relays + MAX_REFUSED_LINGERING + BASE
    )


def test_each_provider_origin_has_its_pool() -> None:
    settings = load_settings(
        api_keys=["acme:k"],
        provider_endpoint="https://api.openai.com/v1/realtime/client_secrets",
        allowed_endpoints=[
            "https://api.openai.com/v1/realtime/sessions",
            "https://acme.openai.azure.com/openai/v1/realtime/client_secrets",
        ],
    )
    assert descriptor_reserve(settings).provider == 2 * DEFAULT_MAX_CONNECTIONS


def test_the_reserve_counts_each_redis_topologys_pools() -> None:
    single = load_settings(api_keys=["acme:k"], redis_url="redis://127.0.0.1:6379/0")
    assert descriptor_reserve(single).redis == REDIS_CLIENTS * POOL_SIZE
    cluster = load_settings(api_keys=["acme:k"], redis_cluster_nodes="a:7000,b:7000,c:7000")
    assert descriptor_reserve(cluster).redis == REDIS_CLIENTS * UNBLOCKED_POOL_SIZE * 3
    sentinel = load_settings(
        api_keys=["acme:k"], redis_sentinels="s1:26379,s2:26379", redis_sentinel_master="m"
    )
    assert descriptor_reserve(sentinel).redis == REDIS_CLIENTS * (UNBLOCKED_POOL_SIZE + 2)
