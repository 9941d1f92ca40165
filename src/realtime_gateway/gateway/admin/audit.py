"""One audit line per admin action, naming what changed: the action, the tenant, a key's id,
the policy fields set. Never a key, a token or a policy value (a webhook secret is one)."""

from __future__ import annotations

import logging
from typing import Any

from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER

audit_log = logging.getLogger(AUDIT_LOGGER)


def record_admin(action: str, **what: Any) -> None:
    audit_log.info("admin action", extra={"event": "admin." + action, **what})
