"""The file descriptors a gateway process keeps back from its client connections, and the
connection cap that leaves them free under `RLIMIT_NOFILE`.

A connection past the cap is answered 503 `server_busy`; but if the cap plus what the process
opens itself passes the descriptor limit, outbound connections fail first (the provider, Redis:
`provider_error`, empty replies). So the reserve is counted from the pools the process opens,
read from the code and the settings (`tests/unit/test_descriptors.py` holds the figures to the
classes that open them):

- the provider pool: `Http1Transport`, `DEFAULT_MAX_CONNECTIONS` per origin of the endpoints;
- brokered calls' provider client (`providers/call_http.py`): at most `CALL_POOL` connections;
- sidebands (`leash/sideband.py`): one WebSocket per watched call, at most `SIDEBAND_CAP`
  (the limit of the session they share; a further sideband waits for one to close);
- relayed WebSocket sessions (`relay/`): one provider socket each, at most
  `GATEWAY_WS_MAX_SESSIONS` (a further session is refused at its upgrade);
- Redis: `REDIS_CLIENTS` clients (the limiter, the call store with its fleet), each a
  pool per server: `POOL_SIZE` on one Redis, `UNBLOCKED_POOL_SIZE` per node with Cluster or
  Sentinel (plus one connection per sentinel);
- refused connections still lingering (`connection_guard.MAX_REFUSED_LINGERING`);
- `BASE`: listening sockets, stdio, log files, the event loop's own, DNS, the odd file.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from realtime_gateway.gateway.providers.http1 import DEFAULT_MAX_CONNECTIONS
from realtime_gateway.gateway.redisconn import POOL_SIZE, UNBLOCKED_POOL_SIZE
from realtime_gateway.gateway.settings import Settings

log = logging.getLogger("realtime_gateway.gateway.connections")

BASE = 64
CALL_POOL = 100  # AiohttpCallTransport(max_connections=100)
SIDEBAND_CAP = 100  # aiohttp's default connection limit, on AiohttpSidebands' one session
REDIS_CLIENTS = 2
# Refused connections answered and waiting for their client to read it (connection_guard).
MAX_REFUSED_LINGERING = 64


@dataclass(frozen=True)
class Reserve:
    """Descriptors kept back, by what holds them."""

    provider: int
    calls: int
    sidebands: int
    relays: int
    redis: int
    refused: int
    base: int = BASE

    @property
    def total(self) -> int:
        return (
            self.provider
            + self.calls
            + self.sidebands
            + self.relays
            + self.redis
            + self.refused
            + self.base
        )


def redis_descriptors(settings: Settings) -> int:
    if settings.redis_cluster_nodes:
        return REDIS_CLIENTS * UNBLOCKED_POOL_SIZE * len(settings.redis_cluster_nodes)
    if settings.redis_sentinels:
        return REDIS_CLIENTS * (UNBLOCKED_POOL_SIZE + len(settings.redis_sentinels))
    if settings.redis_url is not None:
        return REDIS_CLIENTS * POOL_SIZE
    return 0


def descriptor_reserve(settings: Settings) -> Reserve:
    """What a worker with these settings may open besides client connections."""
    origins = {
        (parts.scheme, parts.hostname, parts.port)
        for parts in map(urlsplit, [settings.provider_endpoint, *settings.allowed_endpoints])
    }
    return Reserve(
        provider=DEFAULT_MAX_CONNECTIONS * max(1, len(origins)),
        calls=CALL_POOL,
        sidebands=SIDEBAND_CAP,
        relays=settings.ws_max_sessions,
        redis=redis_descriptors(settings),
        refused=MAX_REFUSED_LINGERING,
    )


def plan_cap(requested: int, reserve: int, soft: int, hard: int) -> tuple[int, int]:
    """(the connection cap, the soft limit to set) for a descriptor limit of (soft, hard).

    The soft limit is raised toward the hard one as far as the cap plus the reserve need; the
    cap is lowered (to at least 1) when even that cannot hold them."""
    infinity = resource.RLIM_INFINITY
    wanted = requested + reserve
    if soft == infinity or soft >= wanted:
        return requested, soft
    raised = wanted if hard == infinity else min(hard, wanted)
    return min(requested, max(1, raised - reserve)), max(soft, raised)


Limits = tuple[int, int]


def descriptor_safe_cap(
    requested: int,
    reserve: int,
    *,
    getrlimit: Callable[[int], Limits] = resource.getrlimit,
    setrlimit: Callable[[int, Limits], None] = resource.setrlimit,
) -> int:
    """`requested`, or less when the descriptor limit (raised toward its hard limit first)
    cannot hold it plus `reserve`: past the cap a connection gets 503, never EMFILE.
    `getrlimit` and `setrlimit` are seams for tests, which must not change their own limit."""
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    cap, new_soft = plan_cap(requested, reserve, soft, hard)
    if new_soft != soft:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        except (ValueError, OSError):
            cap, _ = plan_cap(requested, reserve, soft, soft)
            new_soft = soft
    if cap < requested:
        log.warning(
            "connection cap lowered to fit the descriptor limit",
            extra={"requested": requested, "cap": cap, "nofile": new_soft, "reserve": reserve},
        )
    if cap <= 1 and new_soft < reserve + 1:
        log.warning(
            "the descriptor limit cannot hold the gateway's own pools: raise it (ulimit -n)",
            extra={"nofile": new_soft, "reserve": reserve},
        )
    return cap
