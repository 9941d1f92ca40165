"""The docs and the code name the same settings and errors: a `GATEWAY_*` name or an
`error_code` written in docs/ or the README must exist in the code, and every `Settings` field
and error class must be in the rendered docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realtime_gateway.client import errors as client_errors
from realtime_gateway.gateway import errors
from realtime_gateway.gateway.settings import Settings
from realtime_gateway.reference import (
    error_docs,
    render_markers,
    settings_docs,
    settings_table,
)

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [*PAGES, ROOT / "README.md"]

SETTING_NAME = re.compile(r"\bGATEWAY_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
# How the docs name an error the gateway answers: its status, then the code in backticks
# ("answers 503 `limiter_unavailable`", "| 429 | `too_many_calls` |").
ERROR_MENTION = re.compile(r"\b([1-5]\d\d)\b(?:\s*\|\s*|\s+)`([a-z][a-z_]+)`")
STUB_CODE = re.compile(r"""\bcode=["']([a-z_]+)["']""")


def rendered(path: Path) -> str:
    return render_markers(path.read_text(encoding="utf-8"))


def settings_env_names() -> set[str]:
    return {row.env for row in settings_docs()}


def known_error_codes() -> set[str]:
    """Codes the gateway, the Python client and the stub (OpenAI's codes) answer or raise."""
    gateway = {row.error_code for row in error_docs()} | {"http_error"}
    client = {
        cls.error_code
        for cls in vars(client_errors).values()
        if isinstance(cls, type) and issubclass(cls, client_errors.GatewayClientError)
    }
    stub_sources = (ROOT / "src" / "realtime_gateway" / "stub").rglob("*.py")
    stub = {code for source in stub_sources for code in STUB_CODE.findall(source.read_text())}
    return gateway | client | stub


def test_the_docs_are_found() -> None:
    names = {page.name for page in PAGES}
    assert {"settings.md", "errors.md", "index.md", "getting-started.md"} <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_setting_named_in_the_docs_exists(document: Path) -> None:
    named = set(SETTING_NAME.findall(rendered(document)))
    unknown = named - settings_env_names()
    assert unknown == set(), f"{document.name} names settings the code lacks"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_error_code_named_in_the_docs_exists(document: Path) -> None:
    named = {code for _status, code in ERROR_MENTION.findall(rendered(document))}
    assert named - known_error_codes() == set(), f"{document.name} names unknown error codes"


def test_error_statuses_in_the_docs_match_the_classes() -> None:
    statuses = {row.error_code: row.status for row in error_docs()}
    wrong = {
        (document.name, int(status), code)
        for document in DOCUMENTS
        for status, code in ERROR_MENTION.findall(rendered(document))
        if code in statuses and statuses[code] != int(status)
    }
    assert wrong == set()


def test_every_setting_is_in_the_settings_page_with_a_description() -> None:
    page = rendered(ROOT / "docs" / "settings.md")
    for name, info in Settings.model_fields.items():
        assert info.description, f"Settings.{name} has no description"
    missing = {row.env for row in settings_docs() if f"`{row.env}`" not in page}
    assert missing == set()


def test_every_error_class_is_in_the_errors_page_with_its_meaning() -> None:
    page = rendered(ROOT / "docs" / "errors.md")
    classes = [errors.GatewayError, *_all_subclasses(errors.GatewayError)]
    for cls in classes:
        assert cls.__doc__, f"{cls.__name__} has no docstring"
        row = f"| {cls.status_code} | `{cls.error_code}` | `{cls.__name__}` |"
        assert row in page, f"{cls.__name__} is not in docs/errors.md"


def test_the_settings_table_shows_env_name_default_bounds_and_meaning() -> None:
    rows = {
        line.split("|")[1].split("<br>")[0].strip(): line
        for line in settings_table().splitlines()[2:]
    }
    assert rows["`GATEWAY_SECRET_TTL`"].split("|")[1:4] == [
        " `GATEWAY_SECRET_TTL`<br>TOML `secret_ttl` ",
        " integer (10..7200)<br>default `60` ",
        " seconds a minted secret (or a brokered call token) may start a session ",
    ]
    assert "`local` / `deny` / `allow`<br>default `local`" in rows["`GATEWAY_LIMITER_FAILURE_MODE`"]
    assert "secret<br>default none" in rows["`OPENAI_API_KEY`"]
    assert "environment only" in rows["`GATEWAY_CONFIG`"]
    allowed = rows["`GATEWAY_ALLOWED_ENDPOINTS`"]
    assert "`https://api.openai.com/v1/realtime/client_secrets`" in allowed


def test_an_unknown_table_marker_fails_the_build() -> None:
    with pytest.raises(ValueError, match="unknown table marker 'setings'"):
        render_markers("<!-- table: setings -->")


def _all_subclasses(cls: type) -> list[type]:
    """The error classes of `gateway/errors.py` (refinements elsewhere share their parent's
    status and code, and its row)."""
    found = []
    for sub in cls.__subclasses__():
        if sub.__module__ == cls.__module__:
            found.append(sub)
        found += _all_subclasses(sub)
    return found
