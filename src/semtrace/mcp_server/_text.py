"""Compact text for an LLM's context: tables as ``a | b`` lines, bounded cells and length.

Every renderer stops at a character budget and says what it left out and how to see it, so a
tool answer never floods the model's context; ids are printed whole so they can be passed back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from semtrace._words import plural as count

__all__ = [
    "MAX_CELL",
    "MAX_CHARS",
    "cell",
    "clip",
    "count",
    "duration",
    "rows_text",
    "table_text",
]

MAX_CELL = 160  # characters of one value before it is cut with an ellipsis
MAX_CHARS = 12_000  # characters of one tool answer (~3,000 tokens)


def clip(text: str, limit: int = MAX_CELL) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def cell(value: Any, limit: int = MAX_CELL) -> str:
    """One value as short text: times to the millisecond, floats to 4 significant digits,
    lists and maps as compact JSON; ids (any string) are never shortened below ``limit``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict | tuple):
        return clip(json.dumps(value, default=str, separators=(",", ":")), limit)
    return clip(str(value), limit)


def duration(ms: float | None) -> str:
    """A duration for reading: ``850 ms``, ``3.2 s``, ``4.5 min``."""
    if ms is None:
        return "?"
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def rows_text(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_chars: int = MAX_CHARS,
    more_hint: str = "narrow the query, select fewer columns or lower the limit",
) -> str:
    """``columns`` as a header line and one ``a | b | c`` line per row, within ``max_chars``."""
    lines = [" | ".join(columns)]
    used = len(lines[0])
    for i, row in enumerate(rows):
        line = " | ".join(cell(v) for v in row)
        if used + len(line) + 1 > max_chars:
            lines.append(f"… {len(rows) - i} more rows not shown ({more_hint})")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def table_text(table: pa.Table, *, max_chars: int = MAX_CHARS, more_hint: str | None = None) -> str:
    """An Arrow table as :func:`rows_text` lines."""
    columns = table.column_names
    data = [c.to_pylist() for c in table.columns]
    rows = list(zip(*data, strict=True)) if data else []
    if more_hint is None:
        return rows_text(columns, rows, max_chars=max_chars)
    return rows_text(columns, rows, max_chars=max_chars, more_hint=more_hint)
