"""Result column names made unique the way DuckDB names them (``name``, ``name_1``, ...).

``select s.name, e.name ...`` gives two columns called ``name``: as dict keys, JSON fields or
CSV headers one would silently hide the other. Every output of a query result (the CLI's
formats, the collector's ``/v1/query``) renames repeats first.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

__all__ = ["unique_names", "with_unique_names"]


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with each repeat suffixed ``_1``, ``_2``, ... (skipping names in use)."""
    taken = set(names)
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
            continue
        n = 1
        while f"{name}_{n}" in taken:
            n += 1
        new = f"{name}_{n}"
        taken.add(new)
        seen.add(new)
        out.append(new)
    return out


def with_unique_names(table: pa.Table) -> pa.Table:
    """``table`` with unique column names (the same table when they already are)."""
    names = table.column_names
    if len(set(names)) == len(names):
        return table
    return table.rename_columns(unique_names(names))
