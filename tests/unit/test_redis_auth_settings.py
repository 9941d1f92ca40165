"""Credentials, TLS and replica waits for Cluster and Sentinel: read from the settings, refused
in one line when they cannot work, and the passwords kept out of reprs and logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from realtime_gateway.gateway.composition import check_scale_out
from realtime_gateway.gateway.observability.redaction import Redactor, configured_secrets
from realtime_gateway.gateway.redisconn import RedisAuth, redis_topology
from realtime_gateway.gateway.settings import ConfigError, Settings

PASSWORD = "pw-cluster-7f3a9c1e5b"
SENTINEL_PASSWORD = "pw-sentinel-0d8e2b4f6a"


def test_cluster_and_sentinel_take_credentials_and_tls_from_their_settings(
    tmp_path: Path,
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not parsed until a connection is made")
    cluster = redis_topology(
        Settings(
            redis_cluster_nodes="10.0.0.1:7000",
            redis_username="gateway",
            redis_password=SecretStr(PASSWORD),
            redis_tls=True,
            redis_tls_ca_file=str(ca),
        )
    )
    assert cluster is not None
    assert cluster.auth == RedisAuth(
        username="gateway", password=PASSWORD, tls=True, tls_ca_file=str(ca)
    )
    kwargs = cluster.auth.server_kwargs()
    assert kwargs["ssl"] is True and kwargs["ssl_ca_certs"] == str(ca)
    assert PASSWORD not in repr(cluster) and PASSWORD not in cluster.location
    sentinel = redis_topology(
        Settings(
            redis_sentinels="s1:26379",
            redis_sentinel_master="main",
            redis_password=SecretStr(PASSWORD),
            redis_sentinel_password=SecretStr(SENTINEL_PASSWORD),
        )
    )
    assert sentinel is not None and sentinel.auth.sentinel_password == SENTINEL_PASSWORD
    assert sentinel.auth.tls_kwargs() == {}
    assert SENTINEL_PASSWORD not in repr(sentinel)


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (
            {"redis_url": SecretStr("redis://h:1/0"), "redis_password": SecretStr(PASSWORD)},
            "GATEWAY_REDIS_URL carries its own credentials",
        ),
        (
            {"redis_cluster_nodes": "h:7000", "redis_tls_ca_file": "/etc/ssl/ca.pem"},
            "GATEWAY_REDIS_TLS_CA_FILE is set without GATEWAY_REDIS_TLS",
        ),
        (
            {"redis_cluster_nodes": "h:7000", "redis_tls": True, "redis_tls_ca_file": "/nope"},
            "GATEWAY_REDIS_TLS_CA_FILE: no such file",
        ),
        (
            {"redis_cluster_nodes": "h:7000", "redis_sentinel_password": SecretStr("x")},
            "GATEWAY_REDIS_SENTINEL_PASSWORD is set without GATEWAY_REDIS_SENTINELS",
        ),
        (
            {"redis_cluster_nodes": "h:7000", "redis_wait_replicas": 1},
            "GATEWAY_REDIS_WAIT_REPLICAS applies to GATEWAY_REDIS_URL and Sentinel",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_in_one_line(
    settings: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason) as refused:
        check_scale_out(Settings(**settings))  # type: ignore[arg-type]
    assert "\n" not in str(refused.value) and PASSWORD not in str(refused.value)


def test_replica_waits_default_to_one_with_sentinel_only() -> None:
    assert Settings().replicas_to_wait_for() == 0
    assert Settings(redis_url=SecretStr("redis://h:1/0")).replicas_to_wait_for() == 0
    assert Settings(redis_cluster_nodes="h:7000").replicas_to_wait_for() == 0
    sentinel = {"redis_sentinels": "s:26379", "redis_sentinel_master": "m"}
    assert Settings(**sentinel).replicas_to_wait_for() == 1  # type: ignore[arg-type]
    assert Settings(**sentinel, redis_wait_replicas=0).replicas_to_wait_for() == 0  # type: ignore[arg-type]
    assert (
        Settings(redis_url=SecretStr("redis://h:1/0"), redis_wait_replicas=2).replicas_to_wait_for()
        == 2
    )


def test_redis_passwords_are_redacted_from_logs() -> None:
    settings = Settings(
        redis_sentinels="s:26379",
        redis_sentinel_master="m",
        redis_password=SecretStr(PASSWORD),
        redis_sentinel_password=SecretStr(SENTINEL_PASSWORD),
    )
    assert {PASSWORD, SENTINEL_PASSWORD} <= set(configured_secrets(settings))
    scrubbed = Redactor.from_settings(settings).scrub(f"AUTH {PASSWORD} / {SENTINEL_PASSWORD}")
    assert PASSWORD not in scrubbed and SENTINEL_PASSWORD not in scrubbed
