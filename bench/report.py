"""Figures, their targets, one summary line each as they are measured, and the final table."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    op: str  # "<=", ">=" or "=="
    value: float

    def met(self, figure: float) -> bool:
        if math.isnan(figure):
            return False
        if self.op == "<=":
            return figure <= self.value
        if self.op == ">=":
            return figure >= self.value
        return math.isclose(figure, self.value, rel_tol=1e-9, abs_tol=1e-9)

    def __str__(self) -> str:
        return f"{self.op}{self.value:g}"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    target: Target | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "ok" if self.target.met(self.value) else "MISSED"

    def line(self) -> str:
        text = f"{self.name}={format_value(self.value)}"
        if self.target is not None:
            text += f" target{self.target} {self.verdict}"
        if self.note:
            text += f"  # {self.note}"
        return text


def format_value(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


class Report:
    """Collects figures; prints each one the moment it is known."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.skipped: list[str] = []

    def add(self, name: str, value: float, target: Target | None = None, note: str = "") -> Figure:
        figure = Figure(name, value, target, note)
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def skip(self, section: str, why: str) -> None:
        self.skipped.append(f"{section}: {why}")
        print(f"# {section} skipped: {why}", file=sys.stderr, flush=True)

    def table(self) -> str:
        rows = [("figure", "value", "target", "verdict")]
        rows += [
            (f.name, format_value(f.value), str(f.target) if f.target else "", f.verdict)
            for f in self.figures
            if f.target is not None
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        missed = [f.name for f in self.figures if f.verdict == "MISSED"]
        lines.append("")
        lines.append(
            f"{sum(f.verdict == 'ok' for f in self.figures)} targets met, {len(missed)} missed"
            + (f" ({', '.join(missed)})" if missed else "")
        )
        for skipped in self.skipped:
            lines.append(f"skipped {skipped}")
        return "\n".join(line.rstrip() for line in lines)
