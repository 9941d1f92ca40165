"""Log redaction by value and by field name: every configured secret, and
any run of 8 or more of its characters, is gone from a log line, wherever it was, before the
field is cut short; fields named like secrets are redacted whatever their value. A long value
(a 1 MiB provider body) is cut to a window before it is scrubbed."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from realtime_gateway.gateway.observability.logs import JsonFormatter
from realtime_gateway.gateway.observability.redaction import (
    MAX_FIELD_CHARS,
    SCRUB_WINDOW,
    Redactor,
    is_secret_field,
)
from realtime_gateway.gateway.providers.base import redact
from realtime_gateway.gateway.settings import load_settings

PROVIDER_KEY = "Zq7xWm3pLk9vRt2yNb5cHs8d"  # no sk- prefix: no pattern would know it
TENANT_KEY = "rtg_tenant_acme_4f9d2c7b1e"
JWT_SECRET = "jwt-secret-for-redaction-tests-0123456789"
METRICS_TOKEN = "metrics-token-9a8b7c6d5e"
REDIS_PASSWORD = "redis-pass-77f1e2d3"
SECRETS = (PROVIDER_KEY, TENANT_KEY, JWT_SECRET, METRICS_TOKEN, REDIS_PASSWORD)


def formatter() -> JsonFormatter:
    settings = load_settings(
        openai_api_key=PROVIDER_KEY,
        api_keys=[f"acme:{TENANT_KEY}", "globex:sha256:" + "ab" * 32],
        jwt_secret=JWT_SECRET,
        metrics_token=METRICS_TOKEN,
        redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
    )
    return JsonFormatter(Redactor.from_settings(settings))


def logged(msg: str, **extra: Any) -> str:
    record = logging.makeLogRecord(
        {"name": "realtime_gateway.provider", "levelname": "WARNING", "msg": msg, **extra}
    )
    return formatter().format(record)


def assert_no_run_of(secret: str, text: str, run: int = 8) -> None:
    for start in range(len(secret) - run + 1):
        assert secret[start : start + run] not in text, (secret, text)


def test_every_configured_secret_is_redacted_by_value_wherever_it_appears() -> None:
    echo = " and ".join(SECRETS)
    line = logged(
        f"provider said: {echo}",
        body={"error": {"message": f"Incorrect API key provided: {PROVIDER_KEY}"}},
        detail=[f"raw {JWT_SECRET}"],
        error=ValueError(f"boom {TENANT_KEY}"),
    )
    json.loads(line)  # still one JSON line
    for secret in SECRETS:
        assert_no_run_of(secret, line)
    assert "provider said" in line and "Incorrect API key provided" in line


@pytest.mark.parametrize(
    "mangled",
    [
        f"{PROVIDER_KEY[:5]} {PROVIDER_KEY[5:]}",  # split by a space: a 19-character tail
        f"key={PROVIDER_KEY[3:11]}",  # eight characters from the middle
        f"...{PROVIDER_KEY[-8:]}",
        PROVIDER_KEY[2:] + "suffix",
    ],
)
def test_any_run_of_eight_characters_of_a_secret_is_redacted(mangled: str) -> None:
    line = logged("provider refused", body=mangled)
    assert_no_run_of(PROVIDER_KEY, line)
    assert "[redacted]" in line


def test_a_secret_past_the_truncation_point_is_redacted_not_cut_in_half() -> None:
    # The secret straddles where the field is cut: scrubbing happens first, so no tail of it
    # survives as a run of 8 and no pattern is fooled by a shortened token.
    padding = "x" * (MAX_FIELD_CHARS - 10)
    line = logged("provider refused", body=padding + PROVIDER_KEY + "y" * 100)
    body = json.loads(line)["body"]
    assert body.endswith("[truncated]") and len(body) < MAX_FIELD_CHARS + 20
    assert_no_run_of(PROVIDER_KEY, line)
    assert PROVIDER_KEY[:7] not in body[MAX_FIELD_CHARS - 10 :]


@pytest.mark.parametrize(
    "name",
    [
        "provider_api_key",
        "access_token",
        "refresh_token",
        "client_secret",
        "clientSecret",
        "X-Api-Key",
        "authorization",
        "password",
        "jwt",
    ],
)
def test_fields_named_like_secrets_are_redacted(name: str) -> None:
    line = json.loads(logged("request", **{name: "not-a-configured-value-42"}))
    assert line[name] == "[redacted]"
    nested = json.loads(logged("request", headers={name: "v"}))
    assert nested["headers"][name] == "[redacted]"


@pytest.mark.parametrize("name", ["tokens", "tenant", "status", "endpoint_host", "session_id"])
def test_ordinary_fields_are_kept(name: str) -> None:
    assert not is_secret_field(name)
    assert json.loads(logged("request", **{name: "acme"}))[name] == "acme"


def test_short_ordinary_words_are_not_garbled() -> None:
    line = json.loads(logged("session request", tenant="acme", model="gpt-realtime"))
    assert (line["msg"], line["tenant"], line["model"]) == (
        "session request",
        "acme",
        "gpt-realtime",
    )


class RecordingRedactor(Redactor):
    """A redactor that notes the length of every text it scrubs."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(secrets)
        self.scrubbed: list[int] = []

    def scrub(self, text: str) -> str:
        self.scrubbed.append(len(text))
        return super().scrub(text)


def test_a_one_mib_field_is_cut_before_it_is_scrubbed() -> None:
    redactor = RecordingRedactor([PROVIDER_KEY])
    body = "x" * 100 + PROVIDER_KEY + "y" * (1024 * 1024)
    value = redactor.scrub_value(body)
    assert max(redactor.scrubbed) <= SCRUB_WINDOW
    assert value.startswith("x" * 100 + "[redacted]") and value.endswith("[truncated]")
    assert len(value) <= MAX_FIELD_CHARS + len("...[truncated]")


def test_a_provider_body_of_one_mib_is_logged_cut_and_scrubbed() -> None:
    body = ("prefix " + "sk-" + "Q" * 40 + " ") + "z" * (1024 * 1024)
    for given in (body, body.encode()):
        logged_body = redact(given)
        assert logged_body.startswith("prefix [redacted] ") and logged_body.endswith("[truncated]")
        assert len(logged_body) <= MAX_FIELD_CHARS + len("...[truncated]")


def test_a_token_the_first_cut_goes_through_leaves_no_piece() -> None:
    # Long tokens shrink to "[redacted]" when scrubbed, so text from past the first cut moves
    # inside the logged field: the token cut there must not survive as a short unknown word.
    tokens = " ".join("T" + "k" * 63 for _ in range(200))  # 64-char tokens, secret-like
    logged_body = redact(tokens.encode())
    words = logged_body.removesuffix("...[truncated]").split()
    assert words and all(word == "[redacted]" for word in words)
