"""JSON log lines: one per session request (the audit line) and the operational logs.

Fields come from `extra=`; secrets never reach here because nothing passes them in, and as a
second line of defence every line is scrubbed (`redaction`): of every configured secret by
value, and of any field whose name says it holds one.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from typing import Any, TextIO

from realtime_gateway.gateway.observability.redaction import Redactor
from realtime_gateway.gateway.settings import Settings

RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
AUDIT_LOGGER = "realtime_gateway.gateway.observability.audit"


@functools.lru_cache(maxsize=4)
def utc_second(epoch_second: int) -> str:
    """`2026-11-27T02:10:30`: a line's time to the second, formatted once per second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or Redactor(())

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"msg": record.getMessage()}
        for key, value in vars(record).items():
            if key not in RESERVED:
                fields[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            fields["exception"] = record.exc_info[0].__name__
            fields["trace"] = self.formatException(record.exc_info)  # one record, cause included
        line: dict[str, Any] = {
            # The gateway's own three fields hold no secret: only the rest is scrubbed.
            "ts": f"{utc_second(int(record.created))}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            **self._redactor.scrub_fields(fields),
        }
        return json.dumps(line, default=str)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Operational logs as JSON on stderr; audit lines on stdout or `settings.audit_log`."""
    formatter = JsonFormatter(Redactor.from_settings(settings))
    # No line names its thread, process or source line: don't look them up for every line
    # (the logging HOWTO's "Optimization"; the audit line is written on every mint).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
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
