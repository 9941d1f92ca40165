"""Per-tenant call policy: the gateway-wide defaults from the settings, overridden per tenant
by `[tenants.NAME]` TOML tables and `GATEWAY_TENANT_POLICIES` (the environment's value for a
field beats the file's). Every rule that reads a limit reads it from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from realtime_gateway.gateway.settings import (
    DataChannelPermissions,
    Settings,
    TenantPolicyOverrides,
)

DEFAULT_MAX_CALL_SECONDS = 900
DEFAULT_MAX_CONCURRENT_CALLS = 5
DEFAULT_PHONE_ANSWER_SECONDS = 10
PhoneAnswer = Literal["policy", "forward"]


@dataclass(frozen=True)
class TenantPolicy:
    """The resolved limits for one tenant. `daily_audio_seconds` None means no budget."""

    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS
    max_concurrent_calls: int = DEFAULT_MAX_CONCURRENT_CALLS
    daily_audio_seconds: int | None = None
    instructions: str | None = None
    data_channel: DataChannelPermissions | None = None
    phone_numbers: tuple[str, ...] = ()
    phone_answer: PhoneAnswer = "policy"
    phone_webhook_url: str | None = None
    phone_webhook_secret: str | None = field(default=None, repr=False)
    phone_answer_seconds: int = DEFAULT_PHONE_ANSWER_SECONDS
    refer_targets: tuple[str, ...] = ()

    def may_refer_to(self, target: str) -> bool:
        """Whether a call may be transferred to `target`: only to the tenant's `refer_targets`
        (a trailing `*` matches a prefix), compared after normalising both. Nothing else is
        allowed: a transfer to an arbitrary number is toll fraud."""
        wanted = normalise_uri(target)
        for allowed in map(normalise_uri, self.refer_targets):
            if allowed.endswith("*") and wanted.startswith(allowed[:-1]) or wanted == allowed:
                return True
        return False


def normalise_uri(uri: str) -> str:
    """`tel:+1 (555) 123-4567` -> `tel:+15551234567`; `SIP:Bob@X.com` -> `sip:bob@x.com`."""
    scheme, _, rest = uri.strip().partition(":")
    scheme = scheme.lower()
    if scheme == "tel":
        rest = "".join(c for c in rest if c not in " -.()")
    else:
        rest = rest.lower()
    return f"{scheme}:{rest}"


@dataclass(frozen=True)
class Policies:
    """The gateway-wide default and the tenants that differ from it."""

    default: TenantPolicy = TenantPolicy()
    tenants: dict[str, TenantPolicy] = field(default_factory=dict)

    def for_tenant(self, tenant: str) -> TenantPolicy:
        return self.tenants.get(tenant, self.default)

    def longest_call_seconds(self) -> int:
        return max(
            [self.default.max_call_seconds] + [p.max_call_seconds for p in self.tenants.values()]
        )


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


def resolve(default: TenantPolicy, table: TenantPolicyOverrides) -> TenantPolicy:
    """One tenant's policy: its table's fields over the default."""
    return TenantPolicy(
        max_call_seconds=table.max_call_seconds or default.max_call_seconds,
        max_concurrent_calls=table.max_concurrent_calls or default.max_concurrent_calls,
        daily_audio_seconds=(
            table.daily_audio_seconds
            if "daily_audio_seconds" in table.model_fields_set
            else default.daily_audio_seconds
        ),
        instructions=table.instructions,
        data_channel=table.data_channel,
        phone_numbers=tuple(table.phone_numbers or ()),
        phone_answer=table.phone_answer or default.phone_answer,
        phone_webhook_url=table.phone_webhook_url,
        phone_webhook_secret=(
            table.phone_webhook_secret.get_secret_value() if table.phone_webhook_secret else None
        ),
        phone_answer_seconds=table.phone_answer_seconds or default.phone_answer_seconds,
        refer_targets=tuple(table.refer_targets or ()),
    )


def policies_from(
    settings: Settings, runtime: Mapping[str, TenantPolicyOverrides] | None = None
) -> Policies:
    """The settings' policies, and the runtime registry's tenants (`gateway/tenants`) resolved
    over the same default. A runtime tenant never shares a name with a configured one."""
    default = TenantPolicy(
        max_call_seconds=settings.max_call_seconds,
        max_concurrent_calls=settings.max_concurrent_calls,
        daily_audio_seconds=settings.daily_audio_seconds,
    )
    overrides = {**(runtime or {}), **merge_overrides(settings.tenants, settings.tenant_policies)}
    return Policies(
        default=default, tenants={name: resolve(default, t) for name, t in overrides.items()}
    )
