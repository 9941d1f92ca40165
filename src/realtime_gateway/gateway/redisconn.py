"""Connections to the Redis that replicas share, and the key layout every shared script uses.

Three topologies, one configured at a time (`redis_topology(settings)` refuses mixtures):
a single server or a managed endpoint (`GATEWAY_REDIS_URL`, `redis://` or `rediss://`),
Redis Cluster (`GATEWAY_REDIS_CLUSTER_NODES`), or a master watched by Sentinel
(`GATEWAY_REDIS_SENTINELS` with `GATEWAY_REDIS_SENTINEL_MASTER`). `redis_from_settings`
makes the client for whichever is configured; redis-py follows MOVED/ASK redirections and
asks the sentinels for the new master after a failover.

Every key carries its tenant as a hash tag (`rtg:{tenant}:...`), so a script that touches one
tenant's keys touches one Redis Cluster slot.

Cluster nodes and Sentinel-managed servers take their credentials and TLS from
`GATEWAY_REDIS_USERNAME` / `GATEWAY_REDIS_PASSWORD` / `GATEWAY_REDIS_TLS` /
`GATEWAY_REDIS_TLS_CA_FILE` (`RedisAuth`); the sentinels themselves from
`GATEWAY_REDIS_SENTINEL_PASSWORD`. A URL carries its own (`rediss://user:pass@...`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

if TYPE_CHECKING:
    from realtime_gateway.gateway.settings import Settings

SOCKET_TIMEOUT = 0.5
POOL_SIZE = 16
# Cluster and Sentinel pools cannot block for a free connection; they refuse past this many.
UNBLOCKED_POOL_SIZE = 256

SharedRedis: TypeAlias = "Redis | RedisCluster"
TopologyKind = Literal["single", "cluster", "sentinel"]


def tenant_key(tenant: str, *parts: str) -> str:
    """`rtg:{tenant}:part:part`: one tenant's keys hash to one cluster slot."""
    return ":".join(("rtg", "{" + tenant + "}", *parts))


# What counts as "Redis failed": refused, reset, timed out, or answered an error (a cluster
# client that reaches no node, or is refused by every one, raises RedisClusterException).
REDIS_FAILURES: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,
    OSError,
    asyncio.TimeoutError,
)


def failure_reason(error: BaseException) -> str:
    """A failure in a few words for `/readyz`: refused credentials or unreachable."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AuthenticationError) or "NOAUTH" in str(seen):
            return "redis refused the credentials"
        seen = seen.__cause__
    return "redis unreachable"


class RedisSettingsError(ValueError):
    """A Redis setting, or a combination of them, that cannot work; its message is one line."""


def redis_location(url: str) -> str:
    """host:port of a Redis URL, never its credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def parse_nodes(setting: str, items: list[str]) -> tuple[tuple[str, int], ...]:
    """`["h1:7000", "h2:7001"]` -> ((h1, 7000), (h2, 7001)); anything else is refused."""
    nodes: list[tuple[str, int]] = []
    for item in items:
        host, sep, port = item.strip().rpartition(":")
        host = host.strip("[]")
        if not sep or not host or "/" in item or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisSettingsError(f"{setting}: {item!r} is not host:port")
        nodes.append((host, int(port)))
    if not nodes:
        raise RedisSettingsError(f"{setting}: no host:port given")
    return tuple(nodes)


@dataclass(frozen=True)
class RedisAuth:
    """Credentials and TLS for Cluster nodes and Sentinel-managed servers (and, for the
    sentinels, `sentinel_password` plus the same TLS). Its repr names no password."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_ca_file: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    def server_kwargs(self) -> dict[str, Any]:
        """What redis-py's connections to a data node take."""
        kwargs: dict[str, Any] = {"username": self.username, "password": self.password}
        return kwargs | self.tls_kwargs()

    def tls_kwargs(self) -> dict[str, Any]:
        if not self.tls:
            return {}
        # Loopback and private-network nodes are named by IP: the CA check stays, the
        # host-name check would refuse certificates issued to a host name.
        return {"ssl": True, "ssl_ca_certs": self.tls_ca_file, "ssl_check_hostname": False}


@dataclass(frozen=True)
class RedisTopology:
    """Where the shared state lives; `connect()` makes a fresh client (its caller closes it)."""

    kind: TopologyKind
    url: str | None = None
    nodes: tuple[tuple[str, int], ...] = ()
    master: str | None = None
    auth: RedisAuth = field(default_factory=RedisAuth)

    @classmethod
    def single(cls, url: str) -> RedisTopology:
        return cls(kind="single", url=url)

    @property
    def location(self) -> str:
        """Where it is, for logs: never a password."""
        if self.kind == "single":
            assert self.url is not None
            return redis_location(self.url)
        where = ",".join(f"{host}:{port}" for host, port in self.nodes)
        return f"cluster {where}" if self.kind == "cluster" else f"sentinel {self.master}@{where}"

    def connect(self) -> SharedRedis:
        if self.kind == "cluster":
            return _cluster_client(self.nodes, self.auth)
        if self.kind == "sentinel":
            assert self.master is not None
            return _sentinel_client(self.nodes, self.master, self.auth)
        assert self.url is not None
        return make_client(self.url)


def redis_topology(settings: Settings) -> RedisTopology | None:
    """The configured topology, None without Redis; refuses a mixture or half a setting."""
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    cluster = settings.redis_cluster_nodes
    sentinels = settings.redis_sentinels
    master = settings.redis_sentinel_master
    chosen = [
        name
        for name, given in (
            ("GATEWAY_REDIS_URL", url),
            ("GATEWAY_REDIS_CLUSTER_NODES", cluster),
            ("GATEWAY_REDIS_SENTINELS", sentinels),
        )
        if given
    ]
    if len(chosen) > 1:
        raise RedisSettingsError(
            f"{' and '.join(chosen)} are both set; configure one Redis topology"
        )
    if master and not sentinels:
        raise RedisSettingsError(
            "GATEWAY_REDIS_SENTINEL_MASTER is set without GATEWAY_REDIS_SENTINELS"
        )
    if sentinels and not master:
        raise RedisSettingsError(
            "GATEWAY_REDIS_SENTINELS is set without GATEWAY_REDIS_SENTINEL_MASTER (the master name)"
        )
    auth = _auth(settings)
    if url and auth != RedisAuth():
        raise RedisSettingsError(
            "GATEWAY_REDIS_URL carries its own credentials and TLS (rediss://user:pass@host); "
            "GATEWAY_REDIS_USERNAME, _PASSWORD, _TLS and _TLS_CA_FILE are for Cluster and Sentinel"
        )
    if cluster and settings.redis_wait_replicas:
        raise RedisSettingsError(
            "GATEWAY_REDIS_WAIT_REPLICAS applies to GATEWAY_REDIS_URL and Sentinel, not Cluster"
        )
    if settings.redis_sentinel_password and not sentinels:
        raise RedisSettingsError(
            "GATEWAY_REDIS_SENTINEL_PASSWORD is set without GATEWAY_REDIS_SENTINELS"
        )
    if url:
        scheme = urlsplit(url).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise RedisSettingsError(
                f"GATEWAY_REDIS_URL: scheme {scheme!r} is not redis://, rediss:// or unix://"
            )
        return RedisTopology.single(url)
    if cluster:
        return RedisTopology(
            kind="cluster", nodes=parse_nodes("GATEWAY_REDIS_CLUSTER_NODES", cluster), auth=auth
        )
    if sentinels:
        nodes = parse_nodes("GATEWAY_REDIS_SENTINELS", sentinels)
        return RedisTopology(kind="sentinel", nodes=nodes, master=master, auth=auth)
    return None


def _auth(settings: Settings) -> RedisAuth:
    password = settings.redis_password
    sentinel_password = settings.redis_sentinel_password
    ca_file = settings.redis_tls_ca_file
    if ca_file and not settings.redis_tls:
        raise RedisSettingsError("GATEWAY_REDIS_TLS_CA_FILE is set without GATEWAY_REDIS_TLS")
    if ca_file and not Path(ca_file).is_file():
        raise RedisSettingsError(f"GATEWAY_REDIS_TLS_CA_FILE: no such file {ca_file!r}")
    return RedisAuth(
        username=settings.redis_username or None,
        password=password.get_secret_value() if password else None,
        tls=settings.redis_tls,
        tls_ca_file=ca_file or None,
        sentinel_password=sentinel_password.get_secret_value() if sentinel_password else None,
    )


def redis_from_settings(settings: Settings) -> SharedRedis:
    """A client for the configured topology (for any module keeping state in Redis)."""
    topology = redis_topology(settings)
    if topology is None:
        raise RedisSettingsError("no Redis is configured")
    return topology.connect()


def _connection_retry() -> Retry:
    # One immediate retry on a broken connection (a pooled socket that died with a Redis
    # restart or a failover), none on a timeout: the script may have run.
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def make_client(url: str) -> Redis:
    """A client that fails fast: small pool, 0.5 s timeouts, one immediate retry on a broken
    connection (a pooled socket that died with a Redis restart), no retry on a timeout.

    A broken connection may break after the command ran: every script sent through this
    client must be safe to run twice (the limiter's is idempotent by its request id)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=SOCKET_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=_connection_retry(),
    )
    return Redis.from_pool(pool)


def _cluster_client(nodes: tuple[tuple[str, int], ...], auth: RedisAuth) -> RedisCluster:
    """Redis Cluster: redis-py learns the slot map from any reachable node, follows MOVED and
    ASK, and relearns the map when a node fails (a replica promoted in its place)."""
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        max_connections=UNBLOCKED_POOL_SIZE,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 2),
        **auth.server_kwargs(),
    )


def _sentinel_client(nodes: tuple[tuple[str, int], ...], master: str, auth: RedisAuth) -> Redis:
    """The master named `master`: the pool asks the sentinels where it is for each new
    connection, and drops connections to a master that was demoted."""
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(nodes),
        socket_timeout=SOCKET_TIMEOUT,
        sentinel_kwargs={
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
            # The client asks the next sentinel itself; redis-py's default retry with backoff
            # would hold each question about 7 s per sentinel that refuses or is down.
            "retry": Retry(NoBackoff(), 0),
            "password": auth.sentinel_password,
            **auth.tls_kwargs(),
        },
    )
    client: Redis = sentinel.master_for(
        master,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        max_connections=UNBLOCKED_POOL_SIZE,
        retry=_connection_retry(),
        **auth.server_kwargs(),
    )
    return client
