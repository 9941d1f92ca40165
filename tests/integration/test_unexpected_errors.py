"""What an operator sees when the gateway itself fails: the documented 500 body, an audit line
and metrics that say so (not `created`), and one JSON log record carrying the trace."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import HTTPException
from prometheus_client.parser import text_string_to_metric_families

from realtime_gateway.gateway.app import create_app
from realtime_gateway.gateway.observability.logs import AUDIT_LOGGER, configure_logging
from realtime_gateway.gateway.providers.transport import UpstreamAnswer
from realtime_gateway.gateway.settings import Settings
from tests.fixtures.gateway import TENANT_KEY, gateway_settings
from tests.fixtures.servers import serve_in_thread

ENDPOINT = "http://127.0.0.1:9/v1/realtime/client_secrets"  # never called: the seam answers
BODY = {"model": "gpt-realtime", "voice": "verse"}


class FailingTransport:
    """A provider seam whose call fails the way a bug in an adapter would."""

    def __init__(self, fail: Callable[[], None]) -> None:
        self.fail = fail

    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer:
        self.fail()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pass


def raise_adapter_bug() -> None:
    raise RuntimeError("the adapter tripped over its own feet")


def raise_http_500() -> None:
    raise HTTPException(500, "boom")


class Logs:
    def __init__(self, operational: io.StringIO, audit: Path, uvicorn: list[logging.LogRecord]):
        self._operational = operational
        self._audit = audit
        self.uvicorn = uvicorn

    def operational(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._operational.getvalue().splitlines()]

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._audit.read_text().splitlines()]


class Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return gateway_settings(
        provider_endpoint=ENDPOINT,
        allowed_endpoints=[ENDPOINT],
        audit_log=str(tmp_path / "audit.jsonl"),
    )


@pytest.fixture
def logs(settings: Settings) -> Iterator[Logs]:
    """The gateway's own logging (JSON, audit to a file), restored afterwards."""
    names = ["realtime_gateway", AUDIT_LOGGER]
    saved = {name: logging.getLogger(name) for name in names}
    state = {name: (lg.handlers[:], lg.propagate, lg.level) for name, lg in saved.items()}
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    uvicorn_records: list[logging.LogRecord] = []
    collector = Collect(uvicorn_records)
    logging.getLogger("uvicorn.error").addHandler(collector)
    assert settings.audit_log is not None
    try:
        yield Logs(stream, Path(settings.audit_log), uvicorn_records)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(collector)
        for name, logger in saved.items():
            for handler in logger.handlers:
                if handler not in state[name][0]:
                    handler.close()
            logger.handlers, logger.propagate, logger.level = state[name]


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def post_session(base_url: str) -> httpx.Response:
    return httpx.post(
        base_url + "/realtime_session",
        json=BODY,
        headers={"Authorization": f"Bearer {TENANT_KEY}"},
        timeout=10,
    )


def test_adapter_bug_is_audited_and_counted_as_internal_error(
    settings: Settings, logs: Logs
) -> None:
    app = create_app(settings, transport=FailingTransport(raise_adapter_bug))
    with serve_in_thread(app) as served:
        response = post_session(served.base_url)
        metrics = app.state.runtime.metrics.render().decode()
    assert response.status_code == 500
    assert response.json() == {
        "error_code": "internal_error",
        "message": "the gateway failed unexpectedly",
    }
    [audit] = logs.audit()
    assert (audit["outcome"], audit["status"], audit["session_id"]) == ("internal_error", 500, None)
    assert metric(metrics, "gateway_sessions_total", outcome="internal_error") == 1
    assert metric(metrics, "gateway_sessions_total", outcome="created") == 0
    assert metric(metrics, "gateway_provider_seconds_count", outcome="error") == 1
    assert metric(metrics, "gateway_provider_seconds_count", outcome="ok") == 0


def test_internal_error_logged_once_as_json_with_its_trace(settings: Settings, logs: Logs) -> None:
    app = create_app(settings, transport=FailingTransport(raise_adapter_bug))
    with serve_in_thread(app) as served:
        assert post_session(served.base_url).status_code == 500
    errors = [line for line in logs.operational() if line["level"] == "error"]
    assert len(errors) == 1
    [line] = errors
    assert line["msg"] == "unexpected error"
    assert line["exception"] == "RuntimeError"
    assert line["path"] == "/realtime_session"
    assert "raise_adapter_bug" in line["trace"]
    assert "the adapter tripped over its own feet" in line["trace"]
    # Nothing else logs the trace in plain text.
    assert [r for r in logs.uvicorn if r.exc_info] == []


def test_a_bare_http_500_is_not_labelled_provider_error(settings: Settings, logs: Logs) -> None:
    app = create_app(settings, transport=FailingTransport(raise_http_500))
    with serve_in_thread(app) as served:
        response = post_session(served.base_url)
        metrics = app.state.runtime.metrics.render().decode()
    assert response.status_code == 500
    assert response.json()["error_code"] == "internal_error"
    assert metric(metrics, "gateway_sessions_total", outcome="provider_error") == 0
    assert metric(metrics, "gateway_sessions_total", outcome="internal_error") == 1
    assert [line["outcome"] for line in logs.audit()] == ["internal_error"]


class HangingTransport(FailingTransport):
    def __init__(self) -> None:
        super().__init__(lambda: None)
        self.called = asyncio.Event()

    async def post_json(
        self, url: str, *, headers: dict[str, str], body: bytes, timeout: float
    ) -> UpstreamAnswer:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_cancelled_request_is_audited_as_cancelled(settings: Settings, logs: Logs) -> None:
    transport = HangingTransport()
    app = create_app(settings, transport=transport)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        async with client:
            request = asyncio.ensure_future(
                client.post(
                    "/realtime_session",
                    json=BODY,
                    headers={"Authorization": f"Bearer {TENANT_KEY}"},
                )
            )
            await asyncio.wait_for(transport.called.wait(), 10)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
        metrics = app.state.runtime.metrics.render().decode()
    assert [(a["outcome"], a["status"]) for a in logs.audit()] == [("cancelled", 499)]
    assert metric(metrics, "gateway_sessions_total", outcome="created") == 0
    assert metric(metrics, "gateway_provider_seconds_count", outcome="ok") == 0


def test_a_caller_that_leaves_mid_body_is_cancelled_not_an_internal_error(
    settings: Settings, logs: Logs
) -> None:
    """Any client can send half a body and hang up: that is `cancelled`/499 in the audit, and
    nothing an on-call would be paged for (no error record, no trace)."""
    import socket

    app = create_app(settings, transport=FailingTransport(raise_adapter_bug))
    with serve_in_thread(app) as served:
        head = (
            f"POST /realtime_session HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {TENANT_KEY}"
            "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(head.encode() + b'{"model": "gpt')
        # A request after it: its adapter bug is the one error logged.
        assert post_session(served.base_url).status_code == 500
    errors = [line for line in logs.operational() if line["level"] == "error"]
    assert [line["exception"] for line in errors] == ["RuntimeError"]
    first = logs.audit()[0]
    assert (first["outcome"], first["status"]) == ("cancelled", 499)
