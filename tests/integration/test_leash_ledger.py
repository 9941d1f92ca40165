"""The leash's ledger as the operator reads it: `GET /usage` (tenant credential), one audit line
per call end, and the call metrics; a real gateway and a real redis-server, with a second
"replica" (its own store on the same Redis) admitting the calls."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.calls.redis_fleet import RedisFleet
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.store import UsageReport
from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.call_stores import open_call
from tests.fixtures.gateway import GatewayFactory, wired_to
from tests.fixtures.stub import RunningStub

WAIT = 15.0


@pytest.fixture
async def replica(redis_url: str) -> AsyncIterator[RedisCallStore]:
    store = RedisCallStore(make_client(redis_url), owns_client=True)
    yield store
    await store.aclose()


class AuditLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def audit_lines() -> Iterator[AuditLines]:
    handler = AuditLines()
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_usage_shows_today_and_the_last_30_days(
    gateway_factory: GatewayFactory, redis_url: str, replica: RedisCallStore
) -> None:
    gateway = gateway_factory(redis_url=redis_url, daily_audio_seconds=600)
    for audio, tokens in ((12.5, 100), (30.0, 250)):
        call = await open_call(replica, policy=TenantPolicy(daily_audio_seconds=600))
        usage = UsageReport("resp", tokens_out=tokens, audio_ms=int(audio * 1000))
        await replica.add_usage("acme", call.call_id, usage)
        await replica.end("acme", call.call_id, "caller_hangup", "op")
    async with httpx.AsyncClient(base_url=gateway.base_url) as http:
        answer = await http.get("/usage", headers=gateway.auth())
        other = await http.get("/usage", headers=gateway.auth(gateway.other_tenant_key))
        refused = await http.get("/usage")
    assert answer.status_code == 200
    body = answer.json()
    assert body["tenant"] == "acme"
    assert body["today"]["calls"] == 2
    assert body["today"]["audio_seconds"] == 42.5
    assert body["today"]["tokens"] == {"input": 0, "output": 350}
    assert len(body["days"]) == 30 and body["days"][0] == body["today"]
    assert all(day["calls"] == 0 for day in body["days"][1:])
    assert body["limits"]["daily_audio_seconds"] == 600
    assert body["audio_seconds_left"] == 557.5
    assert other.json()["today"]["calls"] == 0  # a tenant sees its own ledger only
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "unauthorized"


async def test_a_replicas_call_past_its_deadline_is_ended_audited_and_counted_once(
    gateway_factory: GatewayFactory,
    redis_url: str,
    replica: RedisCallStore,
    audit_lines: AuditLines,
    stub: RunningStub,
) -> None:
    gateway = gateway_factory(**wired_to(stub, redis_url=redis_url, max_call_seconds=1))
    calls_url = stub.ga_endpoint.replace("/client_secrets", "/calls")
    spec = CallSpec("openai", calls_url, "gpt-realtime", "verse")
    await RedisFleet(replica).touch("acme")  # as the admitting replica names it to the reapers
    call = await open_call(replica, policy=TenantPolicy(max_call_seconds=1), spec=spec)
    call_id = call.call_id
    await replica.add_usage("acme", call_id, UsageReport("resp", tokens_in=7, tokens_out=9))
    async with httpx.AsyncClient(base_url=gateway.base_url) as http:
        async with asyncio.timeout(WAIT):
            while (await http.get("/usage", headers=gateway.auth())).json()["today"]["calls"] < 1:
                await asyncio.sleep(0.1)
        metrics = (await http.get("/metrics", headers=gateway.metrics_auth())).text
    assert await replica.end("acme", call_id, "caller_hangup", "op") is None  # already counted
    ended = [r for r in audit_lines.records if getattr(r, "event", None) == "call.ended"]
    assert len(ended) == 1
    line = ended[0]
    assert (line.tenant, line.call_id, line.reason) == ("acme", call_id, "max_duration")  # type: ignore[attr-defined]
    assert (line.tokens_in, line.tokens_out) == (7, 9)  # type: ignore[attr-defined]
    assert line.seconds >= 1  # type: ignore[attr-defined]
    assert 'gateway_calls_ended_total{reason="max_duration"} 1.0' in metrics
    assert re.search(r'gateway_call_tokens_total\{kind="output",tenant="acme"\} 9\.0', metrics)
    assert re.search(r'gateway_call_seconds_total\{tenant="acme"\} [1-9]', metrics)
    assert 'gateway_calls_active{tenant="acme"}' in metrics


async def test_calls_active_is_the_fleets_figure_summed_per_label(
    gateway_factory: GatewayFactory, redis_url: str, replica: RedisCallStore
) -> None:
    """Tenants the metrics do not name (JWT tenants, say) share the `other` label: the gauge is
    their sum, read from the store at each scrape, never the last writer's figure."""
    gateway = gateway_factory(redis_url=redis_url)
    fleet = RedisFleet(replica)
    for tenant in ("zeta", "omega", "omega", "acme"):
        await fleet.touch(tenant)
        await open_call(replica, tenant)
    async with httpx.AsyncClient(base_url=gateway.base_url) as http:
        metrics = (await http.get("/metrics", headers=gateway.metrics_auth())).text
        assert 'gateway_calls_active{tenant="other"} 3.0' in metrics
        assert 'gateway_calls_active{tenant="acme"} 1.0' in metrics
        for call in await replica.live_calls("omega"):
            await replica.end("omega", call.call_id, "caller_hangup", "op")
        metrics = (await http.get("/metrics", headers=gateway.metrics_auth())).text
    assert 'gateway_calls_active{tenant="other"} 1.0' in metrics
