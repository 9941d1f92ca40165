"""The gateway's one settings object: code defaults < TOML file < environment.

Secrets are `SecretStr` so a traceback or a `repr` cannot leak them. `validate_for_serving`
refuses insecure or incomplete combinations with one clear line before the server starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from realtime_gateway.gateway.leash.policy import (
    Policies,
    TenantPolicyOverrides,
    build_policies,
    merge_overrides,
)

OPENAI_GA_ENDPOINT = "https://api.openai.com/v1/realtime/client_secrets"
OPENAI_BETA_ENDPOINT = "https://api.openai.com/v1/realtime/sessions"
OPENAI_LIVE_ENDPOINT = "https://api.openai.com/v1/live/sessions"

RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

CommaList = Annotated[list[str], NoDecode]

# The TOML layer's path: `Settings(config_file=...)` or the environment. Every source reports
# it under this key, so `settings_customise_sources` finds it without any shared state.
CONFIG_KEY = "GATEWAY_CONFIG"


class ConfigError(ValueError):
    """A setting that makes the gateway unsafe or unable to serve; its message is one line."""


def parse_rate(text: str) -> tuple[int, int]:
    """`"3/minute"` -> (3, 60); `"10/5minutes"` -> (10, 300)."""
    match = RATE_PATTERN.match(text)
    if not match:
        raise ValueError(f"rate {text!r} is not of the form N/unit (e.g. 3/minute)")
    count, multiplier, unit = match.groups()
    window = UNIT_SECONDS[unit] * (int(multiplier) if multiplier else 1)
    if int(count) < 1 or window < 1:
        raise ValueError(f"rate {text!r} must allow at least one request in a positive window")
    return int(count), window


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        extra="forbid",
        populate_by_name=True,
    )

    config_file: Path | None = Field(
        default=None, validation_alias=AliasChoices(CONFIG_KEY, "config_file")
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_tenant_claim: str = "tenant"
    # A JWT's tenant claim is the tenant of that name, keys' tenants included, unless a prefix
    # keeps the two namespaces apart (gateway/auth.py).
    jwt_tenant_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,16}$")
    # Clock skew allowed on `iat` and `nbf` (not on `exp`), and the longest `exp - iat` accepted.
    jwt_leeway: float = Field(default=5.0, ge=0, le=300)
    jwt_max_lifetime: int | None = Field(default=None, ge=1)
    rate_limit: str = "3/minute"
    tenant_rate_limits: CommaList = Field(default_factory=list)
    redis_url: SecretStr | None = None
    # Scale-out (gateway/redisconn.py, gateway/workers.py): one Redis topology, N workers.
    redis_cluster_nodes: CommaList = Field(default_factory=list)
    redis_sentinels: CommaList = Field(default_factory=list)
    redis_sentinel_master: str | None = None
    # Credentials and TLS for Cluster nodes and Sentinel-managed servers (gateway/redisconn.py).
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_sentinel_password: SecretStr | None = None
    redis_tls: bool = False
    redis_tls_ca_file: str | None = None
    # Replicas that must hold a brokered call's state before it is answered (replica_wait.py).
    redis_wait_replicas: int | None = Field(default=None, ge=0, le=16)
    # At most 300: Redis answers WAIT up to ~100 ms late, and the client's socket timeout is 0.5 s.
    redis_wait_ms: int = Field(default=200, ge=1, le=300)
    workers: int | None = Field(default=None, ge=1, le=64)
    # Seconds a stopping worker may finish its requests; then they are cancelled, and a worker
    # still alive a moment later is killed by the supervisor (gateway/workers.py).
    graceful_timeout: float = Field(default=30.0, gt=0, le=3600)
    limiter_failure_mode: Literal["local", "deny", "allow"] = "local"
    provider_endpoint: str = OPENAI_GA_ENDPOINT
    secret_ttl: int = Field(default=60, ge=10, le=7200)
    allowed_endpoints: CommaList = Field(
        default_factory=lambda: [OPENAI_GA_ENDPOINT, OPENAI_BETA_ENDPOINT, OPENAI_LIVE_ENDPOINT]
    )
    allowed_models: CommaList = Field(default_factory=list)
    allowed_voices: CommaList = Field(default_factory=list)
    provider_timeout: float = Field(default=10.0, gt=0, le=120)
    cors_origins: CommaList = Field(default_factory=list)
    audit_log: str | None = None
    max_body_bytes: int = Field(default=16 * 1024, ge=256)
    body_timeout: float = Field(default=10.0, gt=0, le=120)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # Hardening (issue 16): the header phase, the connection cap, the operational surfaces.
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    keepalive_timeout: float = Field(default=5.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    metrics_token: SecretStr | None = None
    docs: bool = False

    # -- brokered calls (DESIGN.md section 10) --------------------------------------------
    call_mode: Literal["direct", "brokered"] = "direct"
    tenant_call_modes: CommaList = Field(default_factory=list)
    public_url: str | None = None
    max_offer_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    # -- the leash (gateway/leash/): per-tenant call length, live-call cap, daily audio budget
    max_call_seconds: int = Field(default=900, ge=1, le=86400)
    max_concurrent_calls: int = Field(default=5, ge=1, le=100_000)
    daily_audio_seconds: int | None = Field(default=None, ge=1)
    tenant_policies: Annotated[dict[str, TenantPolicyOverrides], NoDecode] = Field(
        default_factory=dict
    )
    tenants: Annotated[dict[str, TenantPolicyOverrides], NoDecode] = Field(default_factory=dict)

    @field_validator("tenant_policies", "tenants", mode="before")
    @classmethod
    def _policies_are_json_objects(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not a JSON object of tenant policies ({error.msg})") from None
            if not isinstance(value, dict):
                raise ValueError("not a JSON object of tenant policies")
        return value

    _split = field_validator(
        "api_keys",
        "tenant_rate_limits",
        "allowed_endpoints",
        "allowed_models",
        "allowed_voices",
        "cors_origins",
        "redis_cluster_nodes",
        "redis_sentinels",
        "tenant_call_modes",
        mode="before",
    )(_split_commas)

    @field_validator("tenant_call_modes")
    @classmethod
    def _tenant_modes_are_known(cls, value: list[str]) -> list[str]:
        for item in value:
            tenant, sep, mode = item.partition("=")
            if not sep or not tenant.strip() or mode.strip() not in ("direct", "brokered"):
                raise ValueError(
                    f"tenant call mode {item!r} is not of the form tenant=direct|brokered"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(f"public URL {value!r} is not an absolute http(s) URL without query")
        return value.rstrip("/")

    @field_validator("rate_limit")
    @classmethod
    def _rate_is_parsable(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("tenant_rate_limits")
    @classmethod
    def _tenant_rates_are_parsable(cls, value: list[str]) -> list[str]:
        for item in value:
            tenant, sep, rate = item.partition("=")
            if not sep or not tenant.strip():
                raise ValueError(f"tenant rate {item!r} is not of the form tenant=N/unit")
            parse_rate(rate)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        named = init_settings().get(CONFIG_KEY) or os.environ.get(CONFIG_KEY)
        if named:
            if not Path(named).is_file():
                # pydantic-settings would quietly skip it, and a typo would serve on the defaults.
                raise ConfigError(f"config file {named} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(named)))
        return tuple(sources)

    # -- derived views -------------------------------------------------------------------

    def default_rate(self) -> tuple[int, int]:
        return parse_rate(self.rate_limit)

    def tenant_rates(self) -> dict[str, tuple[int, int]]:
        rates: dict[str, tuple[int, int]] = {}
        for item in self.tenant_rate_limits:
            tenant, _, rate = item.partition("=")
            rates[tenant.strip()] = parse_rate(rate)
        return rates

    def redis_configured(self) -> bool:
        """Whether any Redis topology (URL, Cluster or Sentinel) holds the shared state."""
        return bool(self.redis_url or self.redis_cluster_nodes or self.redis_sentinels)

    def replicas_to_wait_for(self) -> int:
        """`redis_wait_replicas`, else 1 with Sentinel (a master with a replica) and 0 otherwise."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_sentinels else 0

    def worker_count(self) -> int:
        """`workers`, else the number of usable cores with Redis and 1 without it."""
        if self.workers is not None:
            return self.workers
        if not self.redis_configured() or not hasattr(os, "sched_getaffinity"):
            return 1  # several workers need shared state, and Linux (gateway/workers.py)
        return len(os.sched_getaffinity(0))

    def validate_scale_out(self) -> None:
        """Refuse a mixture of Redis topologies, and several workers without shared state."""
        from realtime_gateway.gateway.redisconn import RedisSettingsError, redis_topology

        try:
            redis_topology(self)
        except RedisSettingsError as error:
            raise ConfigError(str(error)) from error
        if self.worker_count() > 1 and not self.redis_configured():
            raise ConfigError(
                f"{self.worker_count()} workers need shared state: set GATEWAY_REDIS_URL, "
                "GATEWAY_REDIS_CLUSTER_NODES or GATEWAY_REDIS_SENTINELS, or run one worker"
            )

    def tenant_modes(self) -> dict[str, str]:
        """`acme=brokered` entries as {tenant: mode}."""
        return {
            tenant.strip(): mode.strip()
            for tenant, _, mode in (item.partition("=") for item in self.tenant_call_modes)
        }

    def policies(self) -> Policies:
        """The leash's policy per tenant: `tenant_policies` (environment) over `[tenants.NAME]`."""
        return build_policies(
            max_call_seconds=self.max_call_seconds,
            max_concurrent_calls=self.max_concurrent_calls,
            daily_audio_seconds=self.daily_audio_seconds,
            overrides=merge_overrides(self.tenants, self.tenant_policies),
        )

    def validate_for_serving(self) -> None:
        """Refuse to serve an unsafe or useless configuration, in one line."""
        self.validate_scale_out()
        if not self.api_keys and not self.jwt_secret and not self.jwt_public_key:
            raise ConfigError(
                "no tenant credential is configured: set GATEWAY_API_KEYS or GATEWAY_JWT_SECRET "
                "or GATEWAY_JWT_PUBLIC_KEY"
            )
        endpoints = {self.provider_endpoint, *self.allowed_endpoints}
        for endpoint in endpoints:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"endpoint {endpoint!r} is not an absolute http(s) URL")
            if parts.scheme == "http" and not is_loopback_host(parts.hostname):
                raise ConfigError(
                    f"endpoint {endpoint!r} is plain http to a host that is not loopback; "
                    "the provider key would cross the network in clear text"
                )
        reaches_remote = any(not is_loopback_host(urlsplit(e).hostname) for e in endpoints)
        if reaches_remote and self.openai_api_key is None:
            raise ConfigError(
                "OPENAI_API_KEY is not set, but a non-local provider endpoint is configured"
            )
        if self.audit_log and self.audit_log != "-":
            try:  # the same open the audit handler does, so its refusal is a config error
                with open(self.audit_log, "a", encoding="utf-8"):
                    pass
            except OSError as error:
                raise ConfigError(
                    f"GATEWAY_AUDIT_LOG {self.audit_log} cannot be opened for appending: "
                    f"{error.strerror or type(error).__name__}"
                ) from error


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, reading `config_file` (or `GATEWAY_CONFIG`) as the TOML layer."""
    if config_file:
        overrides["config_file"] = config_file
    return Settings(**overrides)
