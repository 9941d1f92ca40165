"""JSON log lines: one per session request (the audit line) and the operational logs.

Fields come from `extra=`; secrets never reach here because nothing passes them in, and as a
second line of defence every line is scrubbed (`redaction`): of every configured secret by
value, and of any field whose name says it holds one.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from realtime_gateway.gateway.observability.redaction import Redactor
from realtime_gateway.gateway.settings import Settings

RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
AUDIT_LOGGER = "realtime_gateway.gateway.observability.audit"


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or Redactor(())

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in RESERVED:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["trace"] = self.formatException(record.exc_info)  # one record, cause included
        return json.dumps(self._redactor.scrub_fields(line), default=str)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Operational logs as JSON on stderr; audit lines on stdout or `settings.audit_log`."""
    formatter = JsonFormatter(Redactor.from_settings(settings))
    package = logging.getLogger("realtime_gateway")
    package.setLevel(logging.INFO)
    package.propagate = False
    for handler in list(package.handlers):
        package.removeHandler(handler)
    operational = logging.StreamHandler(stream or sys.stderr)
    operational.setFormatter(formatter)
    package.addHandler(operational)
    # The server's own lines too (`serve` gives uvicorn no logging config of its own), so they
    # are JSON and redacted like every other line.
    server = logging.getLogger("uvicorn")
    server.propagate = False
    for handler in list(server.handlers):
        server.removeHandler(handler)
    server.addHandler(operational)

    audit = logging.getLogger(AUDIT_LOGGER)
    audit.propagate = False
    for handler in list(audit.handlers):
        audit.removeHandler(handler)
    audit_handler: logging.Handler
    if settings.audit_log and settings.audit_log != "-":
        audit_handler = logging.FileHandler(settings.audit_log, encoding="utf-8")
    else:
        audit_handler = logging.StreamHandler(sys.stdout)
    audit_handler.setFormatter(formatter)
    audit.addHandler(audit_handler)
