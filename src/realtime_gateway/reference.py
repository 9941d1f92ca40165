"""The settings and error tables of the docs site, rendered from the code that defines them.

`docs/settings.md` and `docs/errors.md` hold markers (`<!-- table: settings -->`); the MkDocs
hook in `docs/_hooks/tables.py` replaces them with these tables at build time, so a setting or
an error class added to the code is in the docs without anyone copying it there.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from realtime_gateway.gateway import errors
from realtime_gateway.gateway.settings import Settings

MARKER = re.compile(r"<!--\s*table:\s*([a-z_]+)\s*-->")


@dataclass(frozen=True)
class SettingDoc:
    """One row of the settings table."""

    field: str
    env: str
    toml_key: str
    kind: str
    default: str
    description: str


@dataclass(frozen=True)
class ErrorDoc:
    """One row of the error table."""

    status: int
    error_code: str
    name: str
    meaning: str


def env_name(name: str, info: FieldInfo) -> str:
    """The environment variable that sets a field: its first alias, else `GATEWAY_<NAME>`."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"GATEWAY_{name.upper()}"


def settings_docs() -> list[SettingDoc]:
    """Every `Settings` field, in the order the class declares them."""
    rows = []
    for name, info in Settings.model_fields.items():
        rows.append(
            SettingDoc(
                field=name,
                env=env_name(name, info),
                toml_key="" if name == "config_file" else name,
                kind=_kind(info),
                default=_default(info),
                description=info.description or "",
            )
        )
    return rows


def error_docs() -> list[ErrorDoc]:
    """Every error class of `gateway/errors.py`, by status, then in the module's order."""
    classes: list[type[errors.GatewayError]] = [
        errors.GatewayError,
        *_subclasses(errors.GatewayError),
    ]
    order = {cls: index for index, cls in enumerate(classes)}
    rows = [
        ErrorDoc(
            status=cls.status_code,
            error_code=cls.error_code,
            name=cls.__name__,
            meaning=_one_paragraph(cls.__doc__ or ""),
        )
        for cls in sorted(classes, key=lambda cls: (cls.status_code, order[cls]))
        if cls.__module__ == errors.__name__
    ]
    return rows


def settings_table() -> str:
    """Three columns, so the meaning has room: the names, the type and default, the meaning."""
    lines = [
        "| setting | type, default | meaning |",
        "| --- | --- | --- |",
    ]
    for row in settings_docs():
        toml_key = f"TOML `{row.toml_key}`" if row.toml_key else "environment only"
        lines.append(
            f"| `{row.env}`<br>{toml_key} | {_cell(row.kind)}<br>default {_cell(row.default)} "
            f"| {_cell(row.description)} |"
        )
    return "\n".join(lines)


def error_table() -> str:
    lines = [
        "| status | `error_code` | class | when |",
        "| --- | --- | --- | --- |",
    ]
    for row in error_docs():
        lines.append(f"| {row.status} | `{row.error_code}` | `{row.name}` | {_cell(row.meaning)} |")
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {"settings": settings_table, "errors": error_table}


def render_markers(markdown: str) -> str:
    """`markdown` with each `<!-- table: NAME -->` replaced by that table; an unknown name is
    an error, so a typo fails the strict build instead of leaving a page without its table."""

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise ValueError(f"unknown table marker {name!r}; known: {sorted(TABLES)}")
        return TABLES[name]()

    return MARKER.sub(table, markdown)


# -- rendering one field -----------------------------------------------------------------------


def _subclasses(cls: type[errors.GatewayError]) -> Iterator[type[errors.GatewayError]]:
    """The documented error classes: those of `gateway/errors.py` (a module may refine one for
    its own use, with the same status and code, as the call store's `StoreUnavailable`)."""
    for sub in cls.__subclasses__():
        if sub.__module__ == errors.__name__:
            yield sub
        yield from _subclasses(sub)


def _one_paragraph(doc: str) -> str:
    first = doc.strip().split("\n\n")[0]
    return " ".join(first.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _bare(annotation: Any) -> Any:
    """The type inside `X | None` and `Annotated[X, ...]`."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(inner) == 1:
            return _bare(inner[0])
    return annotation


def _bounds(info: FieldInfo) -> str:
    low: object = None
    high: object = None
    low_open = False
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, annotated_types.Le):
            high = item.le
    if low is not None and high is not None and not low_open:
        return f"{low}..{high}"
    parts = []
    if low is not None:
        parts.append(f"> {low}" if low_open else f"≥ {low}")
    if high is not None:
        parts.append(f"≤ {high}")
    return ", ".join(parts)


def _kind(info: FieldInfo) -> str:
    annotation = _bare(info.annotation)
    origin = get_origin(annotation)
    if annotation is bool:
        return "`true` / `false`"
    if origin is Literal:
        return " / ".join(f"`{choice}`" for choice in get_args(annotation))
    if annotation in (int, float):
        kind = "integer" if annotation is int else "number"
        bounds = _bounds(info)
        return f"{kind} ({bounds})" if bounds else kind
    if origin is list:
        return "comma-separated list"
    if origin is dict:
        return "JSON object (TOML: tables)"
    if annotation is SecretStr:
        return "secret"
    if getattr(annotation, "__name__", "") == "Path":
        return "path"
    return "text"


def _default(info: FieldInfo) -> str:
    value: Any = info.get_default(call_default_factory=True)
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, list):
        return ", ".join(f"`{item}`" for item in value)
    return f"`{value}`"
