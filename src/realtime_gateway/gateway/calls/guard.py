"""Redis failures in the call stores become one documented answer, 503 `calls_unavailable`:
brokered calls have no safe local fallback (a token minted here must be redeemable anywhere)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from realtime_gateway.gateway.errors import CallsUnavailable
from realtime_gateway.gateway.redisconn import REDIS_FAILURES

log = logging.getLogger("realtime_gateway.calls")


@contextmanager
def redis_guard(operation: str) -> Iterator[None]:
    try:
        yield
    except REDIS_FAILURES as error:
        log.warning(
            "call state unavailable", extra={"operation": operation, "error": type(error).__name__}
        )
        raise CallsUnavailable("the shared call state (Redis) is unreachable; try again") from error
