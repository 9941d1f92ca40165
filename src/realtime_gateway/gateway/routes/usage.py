"""`GET /usage`: the calling tenant's ledger (today and the last 30 UTC days) and its limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from realtime_gateway.gateway.calls.store import DayUsage
from realtime_gateway.gateway.errors import documented
from realtime_gateway.gateway.runtime import RuntimeDep, TenantDep

router = APIRouter()

USAGE_DAYS = 30


def day_body(day: DayUsage) -> dict[str, Any]:
    return {
        "day": day.day,
        "calls": day.calls,
        "audio_seconds": round(day.audio_ms / 1000, 3),
        "tokens": {"input": day.tokens_in, "output": day.tokens_out},
        "by_transport": {
            transport: {"calls": calls, "audio_seconds": round(ms / 1000, 3)}
            for transport, (calls, ms) in sorted(day.by_transport.items())
        },
    }


@router.get(
    "/usage",
    summary="The tenant's brokered calls, audio seconds and tokens: today and the last 30 days",
    responses={401: documented("unauthorized: missing or invalid credential")},
)
async def usage(tenant: TenantDep, runtime: RuntimeDep) -> JSONResponse:
    calls = runtime.calls
    days = await calls.store.usage(tenant.name, USAGE_DAYS)
    policy = calls.policies.for_tenant(tenant.name)
    left = await calls.budget_left_ms(tenant.name)
    body = {
        "tenant": tenant.name,
        "today": day_body(days[0]),
        "days": [day_body(day) for day in days],
        "live_calls": await calls.store.slots_taken(tenant.name),
        "limits": {
            "max_call_seconds": policy.max_call_seconds,
            "max_concurrent_calls": policy.max_concurrent_calls,
            "daily_audio_seconds": policy.daily_audio_seconds,
        },
        "audio_seconds_left": None if left is None else round(left / 1000, 3),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
