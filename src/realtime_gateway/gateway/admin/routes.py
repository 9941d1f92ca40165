"""The admin API (DESIGN section 15): tenants, their keys, every tenant's live calls, and the
ledger over UTC days. Every route takes the admin token (`require_admin`); a tenant credential
never works here. Every change is one audit line and is applied on this replica at once (the
others read it within their next poll)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realtime_gateway.gateway.admin.audit import record_admin
from realtime_gateway.gateway.auth import TENANT_NAME, bearer_token
from realtime_gateway.gateway.calls.record import CallRecord
from realtime_gateway.gateway.calls.store import DayUsage, day_name, utc_day
from realtime_gateway.gateway.errors import InvalidRequest, NotFound, Unauthorized
from realtime_gateway.gateway.policy import TenantPolicy, merge_overrides
from realtime_gateway.gateway.routes.usage import day_body
from realtime_gateway.gateway.runtime import Runtime
from realtime_gateway.gateway.settings import TenantPolicyOverrides
from realtime_gateway.gateway.tenants.directory import TenantDirectory
from realtime_gateway.gateway.tenants.registry import KeyEntry, NoSuchTenant, TenantExists

NO_STORE = {"Cache-Control": "no-store"}
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_USAGE_DAYS = 366
SECRET_SHOWN = "**********"


def gateway_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.gateway.state.runtime
    return runtime


async def require_admin(request: Request) -> Runtime:
    """The admin token, compared as SHA-256 digests in constant time; else 401."""
    runtime = gateway_runtime(request)
    token = bearer_token(request.headers.get("authorization"))
    expected = runtime.settings.admin_token
    if expected is None or not hmac.compare_digest(
        hashlib.sha256(token.encode()).digest(),
        hashlib.sha256(expected.get_secret_value().encode()).digest(),
    ):
        raise Unauthorized("not the admin token")
    return runtime


AdminDep = Annotated[Runtime, Depends(require_admin)]
router = APIRouter(prefix="/admin/v1")


def directory_of(runtime: Runtime) -> TenantDirectory:
    assert runtime.tenants is not None
    return runtime.tenants


class NewTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=TENANT_NAME.pattern)
    policy: dict[str, Any] = Field(default_factory=dict)


class TenantChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: dict[str, Any] | None = None  # fields to set; a null value unsets one
    disabled: bool | None = None


async def read_model(request: Request, model: type[BaseModel]) -> Any:
    body = await request.body()
    if len(body) > 65536:
        raise InvalidRequest("the body is over 64 KiB")
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as error:
        raise InvalidRequest(_first_problem(error)) from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def checked_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """The policy's fields as stored: validated as `TenantPolicyOverrides` (400 otherwise)."""
    try:
        overrides = TenantPolicyOverrides.model_validate(fields)
    except ValidationError as error:
        raise InvalidRequest("policy." + _first_problem(error)) from None
    stored = overrides.model_dump(mode="json", exclude_unset=True)
    if overrides.phone_webhook_secret is not None:
        stored["phone_webhook_secret"] = overrides.phone_webhook_secret.get_secret_value()
    return stored


def shown_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """A policy as answered: a secret's presence, never its value."""
    return {k: SECRET_SHOWN if k.endswith("secret") and v else v for k, v in fields.items()}


def resolved(policy: TenantPolicy) -> dict[str, Any]:
    return {
        "max_call_seconds": policy.max_call_seconds,
        "max_concurrent_calls": policy.max_concurrent_calls,
        "daily_audio_seconds": policy.daily_audio_seconds,
    }


def tenant_body(runtime: Runtime, name: str) -> dict[str, Any]:
    directory = directory_of(runtime)
    effective = resolved(runtime.calls.policies.for_tenant(name))
    if name in directory.config_tenants:
        settings = runtime.settings
        tables = merge_overrides(settings.tenants, settings.tenant_policies)
        table = tables[name].model_dump(mode="json", exclude_unset=True) if name in tables else {}
        return {
            "name": name,
            "source": "config",
            "read_only": True,
            "disabled": False,
            "policy": shown_policy({k: v for k, v in table.items() if v is not None}),
            "effective": effective,
        }
    entry = directory.snapshot.tenants.get(name)
    if entry is None:
        raise NotFound(f"no tenant {name}")
    return {
        "name": name,
        "source": "runtime",
        "read_only": False,
        "disabled": entry.disabled,
        "created_ms": entry.created_ms,
        "policy": shown_policy(entry.policy),
        "effective": effective,
        "keys": sum(1 for k in directory.snapshot.keys.values() if k.tenant == name),
    }


def key_body(entry: KeyEntry) -> dict[str, Any]:
    return {"id": entry.id, "prefix": entry.prefix, "created_ms": entry.created_ms}


def known_tenants(runtime: Runtime) -> list[str]:
    directory = directory_of(runtime)
    return sorted({*directory.config_tenants, *directory.snapshot.tenants})


def runtime_tenant(runtime: Runtime, name: str) -> None:
    """404 for an unknown tenant, 400 for a configured one (read-only here)."""
    directory = directory_of(runtime)
    if name in directory.config_tenants:
        raise InvalidRequest(f"tenant {name} comes from the configuration: it is read-only here")
    if name not in directory.snapshot.tenants:
        raise NoSuchTenant(f"no tenant {name}")


# -- tenants ---------------------------------------------------------------------------------


@router.get("/tenants", summary="Every tenant: configured (read-only) and runtime")
async def list_tenants(runtime: AdminDep) -> JSONResponse:
    await directory_of(runtime).refresh()
    body = [tenant_body(runtime, name) for name in known_tenants(runtime)]
    return JSONResponse({"tenants": body}, headers=NO_STORE)


@router.post("/tenants", summary="Create a tenant {name, policy}", status_code=201)
async def create_tenant(request: Request, runtime: AdminDep) -> JSONResponse:
    wanted: NewTenant = await read_model(request, NewTenant)
    directory = directory_of(runtime)
    prefix = runtime.settings.jwt_tenant_prefix
    if prefix and wanted.name.startswith(prefix):
        raise InvalidRequest(f"a tenant name may not start with the JWT prefix {prefix!r}")
    if wanted.name in directory.config_tenants:
        raise TenantExists(f"tenant {wanted.name} exists (in the configuration)")
    policy = checked_policy(wanted.policy)
    await directory.registry.create_tenant(wanted.name, policy)
    await directory.refresh(force=True)
    record_admin("tenant.created", tenant=wanted.name, fields=sorted(policy))
    return JSONResponse(tenant_body(runtime, wanted.name), 201, headers=NO_STORE)


@router.get("/tenants/{name}", summary="One tenant")
async def read_tenant(name: str, runtime: AdminDep) -> JSONResponse:
    await directory_of(runtime).refresh()
    return JSONResponse(tenant_body(runtime, name), headers=NO_STORE)


@router.patch("/tenants/{name}", summary="Change a tenant's policy {policy} (or re-enable it)")
async def change_tenant(name: str, request: Request, runtime: AdminDep) -> JSONResponse:
    change: TenantChange = await read_model(request, TenantChange)
    directory = directory_of(runtime)
    await directory.refresh()
    runtime_tenant(runtime, name)
    policy = None
    if change.policy is not None:
        merged = {**directory.snapshot.tenants[name].policy, **change.policy}
        policy = checked_policy({k: v for k, v in merged.items() if v is not None})
    await directory.registry.update_tenant(name, policy=policy, disabled=change.disabled)
    await directory.refresh(force=True)
    record_admin(
        "tenant.changed",
        tenant=name,
        fields=sorted(change.policy or {}),
        **({} if change.disabled is None else {"disabled": change.disabled}),
    )
    return JSONResponse(tenant_body(runtime, name), headers=NO_STORE)


@router.delete("/tenants/{name}", summary="Disable a tenant: its keys stop, its calls end")
async def disable_tenant(name: str, runtime: AdminDep) -> JSONResponse:
    directory = directory_of(runtime)
    await directory.refresh()
    runtime_tenant(runtime, name)
    await directory.registry.update_tenant(name, disabled=True)
    await directory.refresh(force=True)
    ended = 0
    for record in await runtime.calls.live(name):
        await runtime.calls.end(record, "gateway_hangup")
        ended += 1
    record_admin("tenant.disabled", tenant=name, calls_ended=ended)
    body = tenant_body(runtime, name)
    body["calls_ended"] = ended
    return JSONResponse(body, headers=NO_STORE)


# -- keys ------------------------------------------------------------------------------------


@router.get("/tenants/{name}/keys", summary="A tenant's keys: id, prefix, created")
async def list_keys(name: str, runtime: AdminDep) -> JSONResponse:
    directory = directory_of(runtime)
    await directory.refresh()
    runtime_tenant(runtime, name)
    keys = [key_body(k) for k in directory.snapshot.keys.values() if k.tenant == name]
    keys.sort(key=lambda k: (k["created_ms"], k["id"]))
    return JSONResponse({"keys": keys}, headers=NO_STORE)


@router.post("/tenants/{name}/keys", summary="Issue a key: shown once", status_code=201)
async def issue_key(name: str, runtime: AdminDep) -> JSONResponse:
    directory = directory_of(runtime)
    await directory.refresh()
    runtime_tenant(runtime, name)
    issued = await directory.registry.issue_key(name)
    await directory.refresh(force=True)
    record_admin("key.issued", tenant=name, key_id=issued.entry.id, prefix=issued.entry.prefix)
    return JSONResponse({**key_body(issued.entry), "key": issued.key}, 201, headers=NO_STORE)


@router.delete("/tenants/{name}/keys/{key_id}", summary="Revoke a key")
async def revoke_key(name: str, key_id: str, runtime: AdminDep) -> JSONResponse:
    directory = directory_of(runtime)
    await directory.refresh()
    runtime_tenant(runtime, name)
    entry = await directory.registry.revoke_key(name, key_id)
    await directory.refresh(force=True)
    record_admin("key.revoked", tenant=name, key_id=entry.id, prefix=entry.prefix)
    return JSONResponse({**key_body(entry), "revoked": True}, headers=NO_STORE)


# -- calls -----------------------------------------------------------------------------------


async def every_live_call(runtime: Runtime) -> list[CallRecord]:
    tenants = {*await runtime.calls.fleet.indexed_tenants(), *known_tenants(runtime)}
    records: list[CallRecord] = []
    for tenant in sorted(tenants):
        records += await runtime.calls.live(tenant)
    return records


def call_body(record: CallRecord, now_ms: int) -> dict[str, Any]:
    body = record.to_public(now_ms)
    body["tenant"] = record.tenant
    body["transport"] = record.transport
    return body


@router.get("/calls", summary="Every tenant's live calls")
async def list_calls(runtime: AdminDep) -> JSONResponse:
    records = await every_live_call(runtime)
    now = await runtime.calls.store.now_ms()
    body = [call_body(r, now) for r in records]
    return JSONResponse({"calls": body, "now_ms": now}, headers=NO_STORE)


@router.get("/calls/{call_id}", summary="One live call")
async def read_call(call_id: str, runtime: AdminDep) -> JSONResponse:
    record = await _live_call(runtime, call_id)
    return JSONResponse(call_body(record, await runtime.calls.store.now_ms()), headers=NO_STORE)


@router.delete("/calls/{call_id}", summary="Hang up a live call (gateway_hangup)")
async def hang_up(call_id: str, runtime: AdminDep) -> JSONResponse:
    record = await _live_call(runtime, call_id)
    ended = await runtime.calls.end(record, "gateway_hangup")
    record_admin("call.hung_up", tenant=record.tenant, call_id=call_id)
    return JSONResponse(call_body(ended, await runtime.calls.store.now_ms()), headers=NO_STORE)


async def _live_call(runtime: Runtime, call_id: str) -> CallRecord:
    for record in await every_live_call(runtime):
        if record.call_id == call_id:
            return record
    raise NotFound("no such live call")


# -- usage -----------------------------------------------------------------------------------


@router.get("/usage", summary="The ledger over UTC days: ?from=&to=&tenant=&format=json|csv")
async def usage(request: Request, runtime: AdminDep) -> Response:
    query = request.query_params
    now = await runtime.calls.store.now_ms()
    today = day_name(utc_day(now))
    first = query.get("from") or today
    last = query.get("to") or today
    form = query.get("format", "json")
    for value in (first, last):
        if not DAY.match(value):
            raise InvalidRequest("from and to are UTC days, YYYY-MM-DD")
    if form not in ("json", "csv"):
        raise InvalidRequest("format is json or csv")
    if first > last:
        raise InvalidRequest("from is after to")
    wanted = query.get("tenant")
    if wanted is not None and not TENANT_NAME.fullmatch(wanted):
        raise InvalidRequest("tenant is not a tenant name")
    tenants = [wanted] if wanted else known_tenants(runtime)
    try:
        back = (date.fromisoformat(today) - date.fromisoformat(first)).days + 1
        date.fromisoformat(last)
    except ValueError:
        raise InvalidRequest("from and to are UTC days, YYYY-MM-DD") from None
    if back > MAX_USAGE_DAYS:
        raise InvalidRequest(f"the ledger is read at most {MAX_USAGE_DAYS} days back")
    rows: list[tuple[str, DayUsage]] = []
    for tenant in tenants if back > 0 else []:
        days = await runtime.calls.store.usage(tenant, back)
        rows += [(tenant, d) for d in reversed(days) if first <= d.day <= last]
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["tenant", "day", "calls", "audio_seconds", "tokens_in", "tokens_out"])
        for tenant, d in rows:
            writer.writerow(
                [tenant, d.day, d.calls, round(d.audio_ms / 1000, 3), d.tokens_in, d.tokens_out]
            )
        return Response(out.getvalue(), media_type="text/csv", headers=NO_STORE)
    body = {
        "from": first,
        "to": last,
        "days": [{"tenant": tenant, **day_body(d)} for tenant, d in rows],
    }
    return JSONResponse(body, headers=NO_STORE)


# -- usage webhooks --------------------------------------------------------------------------


@router.get("/webhooks", summary="Usage webhooks: pending deliveries and failures")
async def webhooks(runtime: AdminDep) -> JSONResponse:
    hooks = runtime.usage_webhooks
    if hooks is None:
        return JSONResponse({"configured": False, "pending": 0, "failures": []}, headers=NO_STORE)
    failures = [
        {
            "id": f.event_id,
            "attempts": f.attempts,
            "error": f.error,
            "failed_ms": f.failed_ms,
            "event": json.loads(f.payload),
        }
        for f in await hooks.outbox.failures()
    ]
    body = {"configured": True, "pending": await hooks.outbox.pending(), "failures": failures}
    return JSONResponse(body, headers=NO_STORE)


@router.post("/webhooks/{event_id}/retry", summary="Queue a failed delivery again")
async def retry_webhook(event_id: str, runtime: AdminDep) -> JSONResponse:
    hooks = runtime.usage_webhooks
    if hooks is None or not await hooks.outbox.requeue(event_id):
        raise NotFound("no such failed delivery")
    record_admin("webhook.requeued", event_id=event_id)
    return JSONResponse({"id": event_id, "queued": True}, headers=NO_STORE)
