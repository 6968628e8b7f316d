"""The SQL contract over a lake, in DuckDB: the same tables and views, read-only.

Each table of the contract becomes a view over ``read_parquet`` of the lake's visible files
(:func:`semtrace.lake.files.visible_files`) with Hive partitioning, projected to the declared
columns (JSON back to JSON, a column no file has yet as NULL); then the contract's own views
(:mod:`semtrace.store.views`) are created on top, unchanged. The catalog is built in a
temporary DuckDB file that is reopened read-only, so a query can no more write than it can
on a database file opened by ``semtrace sql``.

The file list is taken when the connection opens: a long-lived reader reconnects (or calls
:func:`connect_lake` again) to see files published since.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from semtrace.exceptions import ConfigurationError
from semtrace.lake.files import visible_files
from semtrace.lake.layout import DATE_KEY, LAYOUTS, SERVICE_KEY
from semtrace.store import schema
from semtrace.store.views import create_views

__all__ = ["connect_lake", "is_lake", "table_sql"]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def is_lake(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding any table of the contract (or a lake's state)."""
    root = Path(path).expanduser()
    return root.is_dir() and any((root / t).is_dir() for t in (*schema.TABLES, "_semtrace"))


def table_sql(con: duckdb.DuckDBPyConnection, lake: Path, table: str) -> str:
    """A SELECT giving ``table``'s declared columns from the lake's files (no rows if none)."""
    declared = schema.table(table).columns
    files = visible_files(lake, table)
    if not files:
        cols = ", ".join(f'NULL::{c.type.sql} AS "{c.name}"' for c in declared)
        return f"SELECT {cols} WHERE false"
    hive = {DATE_KEY: "DATE"}
    if LAYOUTS[table].by_service:
        hive[SERVICE_KEY] = "VARCHAR"
    types = ", ".join(f"{_quote(k)}: {v}" for k, v in hive.items())
    paths = ", ".join(_quote(str(f)) for f in files)
    source = (
        f"read_parquet([{paths}], hive_partitioning = true, union_by_name = true, "
        f"hive_types = {{{types}}})"
    )
    present = {str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    select: list[str] = []
    for c in declared:
        if c.name not in present:
            select.append(f'NULL::{c.type.sql} AS "{c.name}"')
        elif c.type is schema.JSON:
            select.append(f'CAST("{c.name}" AS JSON) AS "{c.name}"')
        else:
            select.append(f'"{c.name}"')
    return f"SELECT {', '.join(select)} FROM {source}"


def connect_lake(lake: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection with every table and view of the contract over ``lake``."""
    root = Path(lake).expanduser().resolve()
    if not is_lake(root):
        raise ConfigurationError(
            f"{root} is not a semtrace lake (no spans/, logs/, ... folders). Write one with "
            "`semtrace serve --lake DIR` or `semtrace export --out DIR`."
        )
    fd, catalog = tempfile.mkstemp(prefix="semtrace-lake-", suffix=".duckdb")
    os.close(fd)
    os.unlink(catalog)  # DuckDB creates it; an empty file is not a database
    try:
        con = duckdb.connect(catalog)
        try:
            for table in schema.TABLES:
                con.execute(f"CREATE VIEW {table} AS {table_sql(con, root, table)}")
            create_views(con)
        finally:
            con.close()
        reader = duckdb.connect(catalog, read_only=True)
    finally:
        # The reader holds the catalog open; the name can go (the views read the lake).
        for leftover in (catalog, catalog + ".wal"):
            Path(leftover).unlink(missing_ok=True)
    return reader
