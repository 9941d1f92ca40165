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

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
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
    """What one tenant's table (`[tenants.NAME]`, `GATEWAY_TENANT_POLICIES`) may set; an absent
    field falls back to the gateway default (`gateway/policy.py` resolves them)."""

    model_config = ConfigDict(extra="forbid")

    max_call_seconds: int | None = Field(default=None, ge=1, le=86400)
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=100_000)
    daily_audio_seconds: int | None = Field(default=None, ge=1)
    instructions: str | None = Field(default=None, max_length=16384)
    data_channel: DataChannelPermissions | None = None
    # Phone calls (DESIGN section 14) and transfers.
    phone_numbers: list[Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]] | None = None
    phone_answer: Literal["policy", "forward"] | None = None
    phone_webhook_url: str | None = None
    phone_webhook_secret: SecretStr | None = None
    phone_answer_seconds: int | None = Field(default=None, ge=1, le=120)
    refer_targets: list[Annotated[str, Field(pattern=r"^(tel|sip|sips):\S+$")]] | None = None


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

    # Each field's `description` is its line in the settings table of the docs site
    # (docs/settings.md, rendered from these fields by realtime_gateway.reference).
    config_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(CONFIG_KEY, "config_file"),
        description="TOML settings file (`serve --config FILE`; in code "
        "`Settings(config_file=...)`); one that does not exist is refused, however the "
        "settings are made",
    )
    host: str = Field(default="127.0.0.1", description="address the gateway listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="port the gateway listens on")
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description="the provider key (also sent as Azure's `api-key`)",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="tenant keys, comma-separated: `tenant:key` or `tenant:sha256:<hex>` "
        "(`realtime-gateway keys new` prints both)",
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="accept HS256 JWTs signed with this secret"
    )
    jwt_public_key: str | None = Field(
        default=None,
        description="accept JWTs verified with this PEM public key, parsed once at start-up: an "
        "RSA key accepts RS256 only, a P-256 EC key ES256 only; any other key is a "
        "configuration error",
    )
    jwt_issuer: str | None = Field(default=None, description="the `iss` a JWT must carry")
    jwt_audience: str | None = Field(default=None, description="the `aud` a JWT must carry")
    jwt_tenant_claim: str = Field(default="tenant", description="the JWT claim naming the tenant")
    jwt_tenant_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]{0,16}$",
        description="prepended to a JWT's tenant claim, so JWT tenants never share a name (and "
        "its calls and ledger) with key tenants; empty = one namespace: a JWT naming a key "
        "tenant is that tenant",
    )
    jwt_leeway: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="seconds of clock skew allowed on a JWT's `iat` and `nbf` (`exp` is checked "
        "without it)",
    )
    jwt_max_lifetime: int | None = Field(
        default=None,
        ge=1,
        description="the longest `exp - iat` accepted, in seconds (a JWT without `iat` is then "
        "refused); none = any",
    )
    rate_limit: str = Field(
        default="3/minute",
        description="per-tenant session creations: `N/second`, `N/minute`, `N/hour`, `N/day`, "
        "or a multiple such as `N/5minutes`",
    )
    tenant_rate_limits: CommaList = Field(
        default_factory=list,
        description="per-tenant overrides, comma-separated: `acme=10/minute,globex=1/second`",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="one Redis for the shared state (`redis://host:6379/0`, `rediss://` for "
        "TLS); with no Redis topology at all, the state is in process (one replica, one worker)",
    )
    # Scale-out (gateway/redisconn.py, gateway/workers.py): one Redis topology, N workers.
    redis_cluster_nodes: CommaList = Field(
        default_factory=list,
        description="Redis Cluster instead: some of its nodes, `host:port,host:port` (the rest "
        "are discovered)",
    )
    redis_sentinels: CommaList = Field(
        default_factory=list,
        description="Sentinel instead: the sentinels, `host:port,...` (with "
        "`GATEWAY_REDIS_SENTINEL_MASTER`)",
    )
    redis_sentinel_master: str | None = Field(
        default=None, description="the name of the master the sentinels watch"
    )
    # Credentials and TLS for Cluster nodes and Sentinel-managed servers (gateway/redisconn.py).
    redis_username: str | None = Field(
        default=None,
        description="Cluster and Sentinel: the ACL user for every node, master and replica (a "
        "`GATEWAY_REDIS_URL` carries its own, so this is refused beside it)",
    )
    redis_password: SecretStr | None = Field(
        default=None,
        description="Cluster and Sentinel: the password of every node, master and replica "
        "(`requirepass` / `masterauth`); redacted from every log line",
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="the sentinels' own password, when they have a `requirepass`"
    )
    redis_tls: bool = Field(
        default=False,
        description="Cluster and Sentinel over TLS (nodes, master, replicas and sentinels); the "
        "host name is not checked, since nodes are named by the IPs they announce",
    )
    redis_tls_ca_file: str | None = Field(
        default=None,
        description="CA file the Redis servers' certificates are checked against (else the "
        "system's CAs); only with `GATEWAY_REDIS_TLS`",
    )
    # Replicas that must hold a brokered call's state before it is answered (replica_wait.py).
    redis_wait_replicas: int | None = Field(
        default=None,
        ge=0,
        le=16,
        description="replicas that must hold a brokered call's admission and record before "
        "`POST /realtime_calls` answers 201 (`WAIT`); none = 1 with Sentinel, else 0 (answer "
        "at once). Not with Cluster",
    )
    # At most 300: Redis answers WAIT up to ~100 ms late, and the client's socket timeout is 0.5 s.
    redis_wait_ms: int = Field(
        default=200,
        ge=1,
        le=300,
        description="how long a creation waits for those replicas; a replica that does not "
        "answer in time costs each creation this long, and the call is answered anyway with a "
        "warning logged",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="worker processes on the one port (`serve --workers N` overrides); none = "
        "the number of cores with Redis, else 1. More than 1 needs Redis",
    )
    graceful_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="seconds a stopping worker may finish its requests; then they are "
        "cancelled, and a worker still alive 5 s later is killed by the supervisor",
    )
    limiter_failure_mode: Literal["local", "deny", "allow"] = Field(
        default="local",
        description="when Redis fails: `local` keeps serving on an in-process limiter per "
        "replica, `deny` answers 503 `limiter_unavailable`, `allow` lets creations through",
    )
    provider_endpoint: str = Field(
        default=OPENAI_GA_ENDPOINT, description="the provider endpoint a session is minted at"
    )
    secret_ttl: int = Field(
        default=60,
        ge=10,
        le=7200,
        description="seconds a minted secret (or a brokered call token) may start a session",
    )
    allowed_endpoints: CommaList = Field(
        default_factory=lambda: [OPENAI_GA_ENDPOINT, OPENAI_BETA_ENDPOINT, OPENAI_LIVE_ENDPOINT],
        description="comma-separated exact URLs a caller may name as `endpoint`",
    )
    allowed_models: CommaList = Field(
        default_factory=list,
        description="comma-separated models a caller may ask for; none = any well-formed name",
    )
    allowed_voices: CommaList = Field(
        default_factory=list,
        description="comma-separated voices a caller may ask for; none = any well-formed name",
    )
    provider_timeout: float = Field(
        default=10.0, gt=0, le=120, description="seconds to wait for the provider"
    )
    cors_origins: CommaList = Field(
        default_factory=list,
        description="origins whose pages may call the gateway (the UI at `/` needs none)",
    )
    audit_log: str | None = Field(
        default=None,
        description="file for the audit lines; none or `-` = stdout. Opened for appending at "
        "start-up: one that cannot be opened is a configuration error (exit 2)",
    )
    max_body_bytes: int = Field(
        default=16 * 1024, ge=256, description="request body limit (413 past it)"
    )
    body_timeout: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="seconds the whole request body may take to arrive (408 past it)",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="request line and header limit, counted as the bytes arrive (431 past it)",
    )
    # Hardening: the header phase, the connection cap, the operational surfaces.
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds a request's line and headers may take to arrive, from its first "
        "byte (or the connection's opening); then 408 and close",
    )
    keepalive_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="seconds a connection may sit idle between requests (or trickle the rest of "
        "an unread body) before it is closed",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="open connections per process; more get 503 `server_busy`. Lowered at start "
        "when the descriptor limit cannot hold it plus 256",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token that reads `/metrics`; none = `/metrics` is off (404)",
    )
    # -- the control plane (DESIGN.md section 15) -------------------------------------------
    admin_host: str = Field(default="127.0.0.1", description="address the admin listener binds")
    admin_port: int = Field(
        default=8081, ge=0, le=65535, description="port of the admin API and console"
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="bearer token of the admin API and console; none = no admin listener",
    )
    usage_webhook_url: str | None = Field(
        default=None,
        description="where each call's end is delivered (`call.ended`, Standard Webhooks); "
        "none = no usage webhooks",
    )
    usage_webhook_secret: SecretStr | None = Field(
        default=None,
        description="`whsec_...` secret that signs usage webhooks (required with the URL)",
    )
    docs: bool = Field(
        default=False,
        description="serve Swagger UI at `/docs` (it loads its scripts from a public CDN: leave "
        "it off on the origin that serves the UI)",
    )

    # -- WebSocket sessions and TLS (DESIGN.md section 13) --------------------------------
    ws_max_frame_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="the largest client frame (message) a relayed WebSocket session takes; a "
        "larger one closes the session with 1009",
    )
    ws_max_sessions: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="WebSocket sessions and tenant sidebands one process relays at once (each "
        "holds a socket to the provider, kept back from the connection cap); more get 503 "
        "`server_busy` at the upgrade",
    )
    ws_stall_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds a relayed WebSocket session's client may leave a frame unread "
        "(its buffers full) before the session is closed (1008)",
    )
    tls_certfile: str | None = Field(
        default=None,
        description="PEM certificate (chain) to serve HTTPS and WSS with; needs "
        "`GATEWAY_TLS_KEYFILE`. None = plain HTTP (openai for node always dials `wss://`)",
    )
    tls_keyfile: str | None = Field(
        default=None, description="PEM private key of `GATEWAY_TLS_CERTFILE`"
    )

    # -- brokered calls (DESIGN.md section 10) --------------------------------------------
    call_mode: Literal["direct", "brokered"] = Field(
        default="direct",
        description="`direct`: the caller gets the provider's ephemeral secret; `brokered`: a "
        "gateway call token, and the gateway creates the call. Live models and endpoints are "
        "always brokered",
    )
    tenant_call_modes: CommaList = Field(
        default_factory=list,
        description="per-tenant call modes, comma-separated: `acme=brokered,globex=direct`",
    )
    public_url: str | None = Field(
        default=None,
        description="the gateway's public base URL; brokered `webrtc_url` is "
        "`<GATEWAY_PUBLIC_URL>/realtime_calls` (set it behind a proxy); none = the address the "
        "request came in on",
    )
    max_offer_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="SDP offer limit on `POST /realtime_calls` (413 past it)",
    )
    # -- phone calls (DESIGN.md section 14, gateway/phone/) ---------------------------------
    openai_webhook_secret: SecretStr | None = Field(
        default=None,
        description="`whsec_...` secret OpenAI signs its webhooks with (the project's webhook "
        "settings); none = `POST /webhooks/openai` is off (404)",
    )
    phone_model: str = Field(
        default="gpt-realtime",
        min_length=1,
        max_length=128,
        description="the model a phone call answered by policy is accepted with",
    )
    phone_live_model: str = Field(
        default="gpt-live-1",
        min_length=1,
        max_length=128,
        description="the model a GPT-Live phone call (`live.transport.incoming`) answered by "
        "policy is accepted with",
    )
    phone_voice: str = Field(
        default="marin",
        min_length=1,
        max_length=64,
        description="the voice a phone call answered by policy is accepted with",
    )
    # -- the leash (gateway/leash/): per-tenant call length, live-call cap, daily audio budget
    max_call_seconds: int = Field(
        default=900,
        ge=1,
        le=86400,
        description="the leash: the longest brokered call, then the gateway hangs up",
    )
    max_concurrent_calls: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="the leash: live brokered calls per tenant (429 `too_many_calls` past it)",
    )
    daily_audio_seconds: int | None = Field(
        default=None,
        ge=1,
        description="the leash: audio seconds per tenant and UTC day (429 `quota_exceeded` "
        "once spent); none = no budget",
    )
    tenant_policies: Annotated[dict[str, TenantPolicyOverrides], NoDecode] = Field(
        default_factory=dict,
        description="the leash per tenant, a JSON object: "
        '`{"acme": {"max_call_seconds": 60, "daily_audio_seconds": 3600}}`; beats the '
        "config file's `[tenants.NAME]` field by field",
    )
    tenants: Annotated[dict[str, TenantPolicyOverrides], NoDecode] = Field(
        default_factory=dict,
        description="the leash per tenant in the TOML file: `[tenants.acme]` tables with "
        "`max_call_seconds`, `max_concurrent_calls`, `daily_audio_seconds`, `instructions`, "
        "`data_channel`",
    )

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

    def validate_workers(self) -> None:
        """Several workers need shared state (the Redis topology itself is checked by
        `redisconn.redis_topology`, which the composition root calls)."""
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

    def validate_for_serving(self) -> None:
        """Refuse to serve an unsafe or useless configuration, in one line (the Redis
        topology is checked beside it: `gateway.composition.check_serving`)."""
        self.validate_workers()
        credentials = (self.api_keys, self.jwt_secret, self.jwt_public_key, self.admin_token)
        if not any(credentials):  # with an admin token, keys are issued at runtime
            raise ConfigError(
                "no tenant credential is configured: set GATEWAY_API_KEYS or GATEWAY_JWT_SECRET "
                "or GATEWAY_JWT_PUBLIC_KEY (or GATEWAY_ADMIN_TOKEN, to issue keys at runtime)"
            )
        if self.admin_token is not None and len(self.admin_token.get_secret_value()) < 16:
            raise ConfigError("GATEWAY_ADMIN_TOKEN must be at least 16 characters")
        if (self.usage_webhook_url is None) != (self.usage_webhook_secret is None):
            raise ConfigError(
                "GATEWAY_USAGE_WEBHOOK_URL and GATEWAY_USAGE_WEBHOOK_SECRET go together"
            )
        if self.usage_webhook_url is not None:
            hook = urlsplit(self.usage_webhook_url)
            if hook.scheme not in ("http", "https") or not hook.hostname:
                raise ConfigError("GATEWAY_USAGE_WEBHOOK_URL is not an absolute http(s) URL")
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
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ConfigError("GATEWAY_TLS_CERTFILE and GATEWAY_TLS_KEYFILE go together")
        for name, path in (("CERTFILE", self.tls_certfile), ("KEYFILE", self.tls_keyfile)):
            if path is not None and not os.access(path, os.R_OK):
                raise ConfigError(f"GATEWAY_TLS_{name} {path} cannot be read")
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
