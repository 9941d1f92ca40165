"""The leash's rules are written twice, in Python (the memory store) and in Lua (the Redis
store). This state machine holds them together: Hypothesis runs the same operations (mint,
admit, attach, usage, hang-up, end, release, claim, a clock moved forward, an operation run
again as after a lost reply) against both, on a real redis-server, and requires every answer
and every view to be the same."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from realtime_gateway.gateway.calls.memory_store import MemoryCallStore
from realtime_gateway.gateway.calls.record import EndedReason
from realtime_gateway.gateway.calls.redis_store import RedisCallStore
from realtime_gateway.gateway.calls.store import AdmitRequest, UsageReport
from realtime_gateway.gateway.calls.tokens import mint_token
from realtime_gateway.gateway.errors import GatewayError
from realtime_gateway.gateway.policy import TenantPolicy
from realtime_gateway.gateway.redisconn import make_client
from tests.fixtures.call_stores import SPEC

START_MS = 1_764_633_600_000 + 86_399_000 - 20_000  # 20 s before a UTC midnight
GRACE_MS = 2000
ATTACH_WINDOW_MS = 1500
POLICIES = {
    "acme": TenantPolicy(max_call_seconds=3, max_concurrent_calls=2, daily_audio_seconds=5),
    "globex": TenantPolicy(max_call_seconds=10, max_concurrent_calls=3),
}
TENANTS = st.sampled_from(sorted(POLICIES))
REASONS: st.SearchStrategy[EndedReason] = st.sampled_from(
    ["caller_hangup", "provider_closed", "max_duration", "gateway_hangup"]
)


def outcome(result: Any) -> Any:
    """What a caller would see of an answer: its value, or the error's status and code."""
    if isinstance(result, GatewayError):
        return ("refused", result.status_code, result.error_code, result.headers)
    return result


class StoresAgree(RuleBasedStateMachine):
    def __init__(self, redis_url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        redis.Redis.from_url(redis_url).flushdb()
        self.now = START_MS
        self.memory = MemoryCallStore(grace_ms=GRACE_MS, clock=lambda: self.now)
        self.redis = RedisCallStore(
            make_client(redis_url), grace_ms=GRACE_MS, clock=lambda: self.now, owns_client=True
        )
        self.tokens: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str]] = []

    def both(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        answers = []
        for store in (self.memory, self.redis):
            try:
                result: Any = self.loop.run_until_complete(
                    getattr(store, operation)(*args, **kwargs)
                )
            except GatewayError as error:
                result = error
            answers.append(outcome(result))
        assert answers[0] == answers[1], (
            f"{operation}{args}: memory {answers[0]} != redis {answers[1]}"
        )
        return answers[0]

    def teardown(self) -> None:
        for store in (self.memory, self.redis):
            self.loop.run_until_complete(store.aclose())
        self.loop.close()

    @initialize()
    def start(self) -> None:
        self.both("now_ms")

    @rule(tenant=TENANTS, life=st.sampled_from([1, 3, 30]))
    def mint(self, tenant: str, life: int) -> None:
        token = mint_token(tenant)
        self.both("put_grant", token, tenant, SPEC, life)
        self.tokens.append((tenant, token))

    @rule(
        tenant=TENANTS,
        data=st.data(),
        enforce=st.booleans(),
        transport=st.sampled_from(["webrtc", "websocket", "sip"]),
    )
    def admit(self, tenant: str, data: st.DataObject, enforce: bool, transport: Any) -> None:
        token = None
        if self.tokens and data.draw(st.booleans(), label="with a token"):
            token_tenant, token = data.draw(st.sampled_from(self.tokens), label="token")
            tenant = token_tenant if data.draw(st.booleans(), label="its own tenant") else tenant
        request = AdmitRequest(
            tenant=tenant,
            call_id="call_" + secrets.token_hex(6),
            transport=transport,
            policy=POLICIES[tenant],
            attach_window_ms=ATTACH_WINDOW_MS,
            spec=None if token else SPEC,
            token=token,
            enforce=enforce,
        )
        result = self.both("admit", request)
        if not isinstance(result, tuple):
            self.calls.append((tenant, request.call_id))
            self.both("admit", request)  # run again, as after a lost reply: the same record

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), provider_call=st.sampled_from(["rtc_a", "rtc_b"]))
    def attach(self, data: st.DataObject, provider_call: str) -> None:
        tenant, call_id = data.draw(st.sampled_from(self.calls))
        self.both("attach", tenant, call_id, provider_call, "holder-x")

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        self.both("release", *data.draw(st.sampled_from(self.calls)))

    @precondition(lambda self: self.calls)
    @rule(
        data=st.data(),
        response=st.sampled_from(["", "resp_1", "resp_2"]),
        tokens=st.integers(0, 50),
        audio=st.none() | st.sampled_from([500, 1500, 4000, 7000]),
    )
    def usage(self, data: st.DataObject, response: str, tokens: int, audio: int | None) -> None:
        tenant, call_id = data.draw(st.sampled_from(self.calls))
        report = UsageReport(response, tokens_in=tokens, tokens_out=2 * tokens, audio_ms=audio)
        self.both("add_usage", tenant, call_id, report)

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), reason=REASONS)
    def mark_ending(self, data: st.DataObject, reason: EndedReason) -> None:
        tenant, call_id = data.draw(st.sampled_from(self.calls))
        self.both("mark_ending", tenant, call_id, reason, 3000)

    @precondition(lambda self: self.calls)
    @rule(
        data=st.data(),
        reason=REASONS,
        op=st.sampled_from(["op-1", "op-2"]),
        final=st.none() | st.sampled_from([800, 6000]),
        until=st.none() | st.just(START_MS + 1000),
    )
    def end(
        self,
        data: st.DataObject,
        reason: EndedReason,
        op: str,
        final: int | None,
        until: int | None,
    ) -> None:
        tenant, call_id = data.draw(st.sampled_from(self.calls))
        self.both("end", tenant, call_id, reason, op, final_audio_ms=final, until_ms=until)

    @rule(tenant=TENANTS)
    def claim_due(self, tenant: str) -> None:
        self.both("claim_due", tenant, POLICIES[tenant], 3000)

    @rule(ms=st.sampled_from([100, 700, 1600, 2600, 9000]))
    def advance_clock(self, ms: int) -> None:
        self.now += ms

    @invariant()
    def views_agree(self) -> None:
        for tenant in POLICIES:
            self.both("slots_taken", tenant)
            self.both("spent_today_ms", tenant)
            self.both("live_calls", tenant)
            self.both("usage", tenant, 2)
        for tenant, call_id in self.calls:
            self.both("get", tenant, call_id)


def test_memory_and_redis_stores_give_the_same_answers(redis_url: str) -> None:
    run_state_machine_as_test(
        lambda: StoresAgree(redis_url),
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
