"""Per-tenant call policy: the defaults from the settings, overridden per tenant.

`GATEWAY_TENANT_POLICIES` is a JSON object `{"acme": {"max_call_seconds": 60}}`; a TOML config
may instead carry `[tenants.acme]` tables. Both hold `TenantPolicyOverrides`; the environment's
value for a field beats the file's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_CALL_SECONDS = 900
DEFAULT_MAX_CONCURRENT_CALLS = 5

# Live's `client.data_channel`: which events an untrusted frontend may send and receive.
EventPermission = Literal["all"] | list[str]
ServerEventPermission = Literal["all"] | list[str | dict[str, Any]]


class DataChannelPermissions(BaseModel):
    """The `client.data_channel` block pinned into every Live session of the tenant."""

    model_config = ConfigDict(extra="forbid")

    allowed_client_events: EventPermission | None = None
    allowed_server_events: ServerEventPermission | None = None

    def as_session_config(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class TenantPolicyOverrides(BaseModel):
    """What one tenant's table may set; an absent field falls back to the gateway default."""

    model_config = ConfigDict(extra="forbid")

    max_call_seconds: int | None = Field(default=None, ge=1, le=86400)
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=100_000)
    daily_audio_seconds: int | None = Field(default=None, ge=1)
    instructions: str | None = Field(default=None, max_length=16384)
    data_channel: DataChannelPermissions | None = None


@dataclass(frozen=True)
class TenantPolicy:
    """The resolved limits for one tenant. `daily_audio_seconds` None means no budget."""

    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS
    max_concurrent_calls: int = DEFAULT_MAX_CONCURRENT_CALLS
    daily_audio_seconds: int | None = None
    instructions: str | None = None
    data_channel: DataChannelPermissions | None = None


@dataclass(frozen=True)
class Policies:
    """The gateway-wide default and the tenants that differ from it."""

    default: TenantPolicy = TenantPolicy()
    tenants: dict[str, TenantPolicy] = field(default_factory=dict)

    def for_tenant(self, tenant: str) -> TenantPolicy:
        return self.tenants.get(tenant, self.default)

    def budgeted_tenants(self) -> set[str] | None:
        """Tenants with a daily budget; None when the default has one (then every tenant)."""
        if self.default.daily_audio_seconds is not None:
            return None
        return {name for name, p in self.tenants.items() if p.daily_audio_seconds is not None}


def merge_overrides(
    file_tables: dict[str, TenantPolicyOverrides],
    environment: dict[str, TenantPolicyOverrides],
) -> dict[str, TenantPolicyOverrides]:
    """Per tenant and per field, the environment's value beats the file's."""
    merged: dict[str, TenantPolicyOverrides] = {}
    for tenant in {*file_tables, *environment}:
        values: dict[str, Any] = {}
        for source in (file_tables.get(tenant), environment.get(tenant)):
            if source is not None:
                values.update(source.model_dump(exclude_unset=True))
        merged[tenant] = TenantPolicyOverrides.model_validate(values)
    return merged


def build_policies(
    *,
    max_call_seconds: int,
    max_concurrent_calls: int,
    daily_audio_seconds: int | None,
    overrides: dict[str, TenantPolicyOverrides],
) -> Policies:
    default = TenantPolicy(
        max_call_seconds=max_call_seconds,
        max_concurrent_calls=max_concurrent_calls,
        daily_audio_seconds=daily_audio_seconds,
    )
    tenants: dict[str, TenantPolicy] = {}
    for tenant, table in overrides.items():
        tenants[tenant] = TenantPolicy(
            max_call_seconds=table.max_call_seconds or default.max_call_seconds,
            max_concurrent_calls=table.max_concurrent_calls or default.max_concurrent_calls,
            daily_audio_seconds=(
                table.daily_audio_seconds
                if "daily_audio_seconds" in table.model_fields_set
                else default.daily_audio_seconds
            ),
            instructions=table.instructions,
            data_channel=table.data_channel,
        )
    return Policies(default=default, tenants=tenants)
