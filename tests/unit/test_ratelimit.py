"""The in-process sliding-window limiter, driven by a fake clock (a seam, not a monkeypatch)."""

from __future__ import annotations

import asyncio
import inspect
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from realtime_gateway.gateway.ratelimit import MemoryLimiter, Rates, build_limiter
from realtime_gateway.gateway.ratelimit.memory import SWEEP_EVERY
from realtime_gateway.gateway.ratelimit.redis_limiter import RedisLimiter
from realtime_gateway.gateway.settings import Settings


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter_at(
    rate: str = "3/minute", overrides: list[str] | None = None
) -> tuple[MemoryLimiter, FakeClock]:
    clock = FakeClock()
    rates = Rates.from_settings(
        Settings(rate_limit=rate, tenant_rate_limits=overrides or [], redis_url=None)
    )
    return MemoryLimiter(rates, clock=clock), clock


async def hit_at(limiter: MemoryLimiter, clock: FakeClock, t: float, tenant: str = "acme") -> bool:
    clock.now = t
    return (await limiter.hit(tenant)).allowed


async def test_exactly_n_per_sliding_window() -> None:
    limiter, clock = limiter_at("3/minute")
    assert [await hit_at(limiter, clock, t) for t in (0, 1, 2)] == [True, True, True]
    assert not await hit_at(limiter, clock, 3)
    assert not await hit_at(limiter, clock, 59)
    # The hit at t=0 has left the window; exactly one slot is free again.
    assert await hit_at(limiter, clock, 60.1)
    assert not await hit_at(limiter, clock, 60.2)
    # The hit at t=1 leaves at t=61 (the window is (now-60, now]).
    assert not await hit_at(limiter, clock, 60.999)
    assert await hit_at(limiter, clock, 61)


async def test_never_doubles_across_a_fixed_window_edge() -> None:
    limiter, clock = limiter_at("3/minute")
    # A fixed window would allow 3 just before the minute and 3 more just after it.
    assert [await hit_at(limiter, clock, t) for t in (59, 59.5, 59.9)] == [True, True, True]
    assert [await hit_at(limiter, clock, t) for t in (60, 60.5, 61, 118.9)] == [False] * 4
    assert await hit_at(limiter, clock, 119)


@settings(deadline=None, max_examples=200)
@given(
    gaps=st.lists(
        st.floats(min_value=0, max_value=40, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    )
)
def test_matches_a_brute_force_sliding_window(gaps: list[float]) -> None:
    """Against any sequence of hits: allowed exactly when fewer than 3 allowed hits lie in the
    last 60 s, and never more than 3 in any 60 s; Retry-After never earlier than `t`."""
    limiter, clock = limiter_at("3/minute")
    allowed_times: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        clock.now = now
        decision = limiter.decide("acme")
        in_window = [t for t in allowed_times if t > now - 60]
        assert decision.allowed == (len(in_window) < 3)
        if decision.allowed:
            allowed_times.append(now)
            in_window.append(now)
            assert decision.retry_after == 0
        else:
            assert decision.retry_after >= max(1, decision.reset_after)
        assert decision.remaining == 3 - len(in_window)
        assert decision.reset_after == (-int(-(in_window[0] + 60 - now) // 1) if in_window else 0)
    for t in allowed_times:
        assert len([u for u in allowed_times if t <= u < t + 60]) <= 3


async def test_header_values() -> None:
    limiter, clock = limiter_at("3/minute")
    clock.now = 0
    first = await limiter.hit("acme")
    assert first.headers() == {
        "RateLimit-Policy": '"default";q=3;w=60',
        "RateLimit": '"default";r=2;t=60',
    }
    clock.now = 19
    assert (await limiter.hit("acme")).headers()["RateLimit"] == '"default";r=1;t=41'
    clock.now = 20
    assert (await limiter.hit("acme")).headers()["RateLimit"] == '"default";r=0;t=40'
    clock.now = 30.5
    denied = await limiter.hit("acme")
    assert not denied.allowed
    assert (denied.remaining, denied.reset_after, denied.retry_after) == (0, 30, 30)
    assert denied.headers() == {
        "RateLimit-Policy": '"default";q=3;w=60',
        "RateLimit": '"default";r=0;t=30',
        "Retry-After": "30",
    }
    assert denied.backend == "memory"
    # The advertised moment really is when a retry passes, and not before.
    clock.now = 59.9
    assert not (await limiter.hit("acme")).allowed
    clock.now = 30.5 + int(denied.headers()["Retry-After"])
    assert (await limiter.hit("acme")).allowed


async def test_retry_after_is_at_least_one_second() -> None:
    limiter, clock = limiter_at("1/second")
    clock.now = 10.0
    assert (await limiter.hit("acme")).allowed
    clock.now = 10.99
    denied = await limiter.hit("acme")
    assert not denied.allowed
    assert denied.reset_after == 1
    assert denied.retry_after >= 1
    assert "Retry-After" in denied.headers()


async def test_per_tenant_override() -> None:
    limiter, clock = limiter_at("3/minute", ["vip=5/10minutes"])
    vip = [await limiter.hit("vip") for _ in range(6)]
    assert [d.allowed for d in vip] == [True] * 5 + [False]
    assert {(d.policy, d.limit, d.window) for d in vip} == {("tenant", 5, 600)}
    assert vip[-1].headers()["RateLimit-Policy"] == '"tenant";q=5;w=600'
    plain = [await limiter.hit("plain") for _ in range(4)]
    assert [d.allowed for d in plain] == [True, True, True, False]
    assert {(d.policy, d.limit, d.window) for d in plain} == {("default", 3, 60)}


async def test_tenants_are_independent() -> None:
    limiter, clock = limiter_at("3/minute")
    assert [(await limiter.hit("a")).allowed for _ in range(4)] == [True, True, True, False]
    assert [(await limiter.hit("b")).allowed for _ in range(4)] == [True, True, True, False]
    assert (await limiter.hit("c")).remaining == 2


async def test_interleaved_tasks_allow_exactly_the_limit() -> None:
    """Twelve tasks over two tenants, each yielding to the loop before every hit, so their hits
    interleave; each tenant still gets exactly its limit, and the denials come last."""
    limiter, _ = limiter_at("3/minute")
    order: list[tuple[int, str, bool]] = []

    async def caller(number: int, tenant: str) -> None:
        for _ in range(2):
            await asyncio.sleep(0)
            order.append((number, tenant, (await limiter.hit(tenant)).allowed))

    await asyncio.wait_for(asyncio.gather(*(caller(n, "ab"[n % 2]) for n in range(12))), timeout=5)
    callers = [number for number, _, _ in order]
    assert callers != sorted(callers), "the tasks never interleaved"
    for tenant in "ab":
        results = [allowed for _, who, allowed in order if who == tenant]
        assert results == [True] * 3 + [False] * 9


async def test_tenants_that_stopped_calling_are_forgotten() -> None:
    limiter, clock = limiter_at("3/minute")
    for tenant in ("a", "b", "c", "d"):
        await limiter.hit(tenant)
    assert limiter.tracked_tenants() == 4
    clock.now = 61
    for _ in range(SWEEP_EVERY):
        await limiter.hit("busy")
    assert limiter.tracked_tenants() == 1


async def test_memory_limiter_is_always_ready() -> None:
    limiter, _ = limiter_at()
    assert await limiter.check_ready() is None
    await limiter.aclose()


async def test_build_limiter_picks_the_backend() -> None:
    memory = build_limiter(Settings(redis_url=None))
    assert isinstance(memory, MemoryLimiter)
    assert (await memory.hit("acme")).backend == "memory"
    # Building the Redis limiter does not connect; nothing listens on port 1.
    shared = build_limiter(Settings(redis_url=SecretStr("redis://127.0.0.1:1/0")))
    assert isinstance(shared, RedisLimiter)
    await shared.aclose()


def test_in_process_windows_count_on_the_monotonic_clock() -> None:
    """A wall-clock step backwards must not lock tenants out (nor a step forwards free them):
    whoever builds an in-process window (directly, the factory, Redis's local fallback)."""
    for builder in (MemoryLimiter, build_limiter, RedisLimiter):
        assert inspect.signature(builder).parameters["clock"].default is time.monotonic


async def test_build_limiter_uses_the_given_clock() -> None:
    clock = FakeClock(1000.0)
    limiter = build_limiter(Settings(rate_limit="1/minute", redis_url=None), clock=clock)
    assert (await limiter.hit("acme")).allowed
    assert not (await limiter.hit("acme")).allowed
    clock.now = 1060.0
    assert (await limiter.hit("acme")).allowed
