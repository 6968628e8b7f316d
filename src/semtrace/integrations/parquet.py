"""Hive-partitioned Parquet export and import: the path beyond one machine.

``export_parquet(db, "out/")`` writes every table of the SQL contract under
``out/<table>/date=YYYY-MM-DD/[service_name=NAME/]part-<uuid>.parquet``: ``spans`` and
``logs`` are partitioned by UTC day and service, the other tables by day. Files hold the
contract's columns (JSON columns as text) minus the partition keys, which come back from the
path: DuckDB ``read_parquet(..., hive_partitioning=true)``, polars ``scan_parquet(...,
hive_partitioning=True)`` and Spark ``spark.read.parquet(...)`` all see the same columns.

Export works in whole UTC days and replaces the days it writes, so running it again (say
daily with ``since="1d"``) never duplicates rows. ``import_parquet`` is idempotent as well:
a row whose key is already in the database is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from semtrace._connect import connect
from semtrace.exceptions import ConfigurationError
from semtrace.lake.layout import (
    DATE_KEY,
    LAYOUTS,
    SERVICE_KEY,
    PartitionedWriter,
    TableLayout,
    day_dir,
    day_sql,
    publish,
    select_sql,
)
from semtrace.store import schema
from semtrace.store.database import open_store, resolve_path

__all__ = [
    "TABLE_LAYOUT",
    "ExportPlan",
    "TableLayout",
    "export_parquet",
    "import_parquet",
    "parse_since",
    "plan_export",
]

MANIFEST = "_semtrace.json"
# The layout is the lake's (semtrace.lake.layout): an export is a lake written in one go.
TABLE_LAYOUT: tuple[TableLayout, ...] = tuple(LAYOUTS.values())

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(since: str | datetime | date | timedelta | None) -> datetime | None:
    """A UTC instant from ``"1d"``/``"12h"``/``"30m"``/``"2w"``, an ISO date or time, a
    ``timedelta`` (that long ago), a ``date`` or a ``datetime``."""
    if since is None:
        return None
    now = datetime.now(UTC)
    if isinstance(since, timedelta):
        return now - since
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    if isinstance(since, date):
        return datetime(since.year, since.month, since.day, tzinfo=UTC)
    m = _SINCE.match(since)
    if m:
        return now - timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
    try:
        parsed = datetime.fromisoformat(since.strip())
    except ValueError:
        raise ConfigurationError(
            f"since={since!r} is not a duration like 1d, 12h, 30m, 2w nor an ISO date/time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [(str(name), str(kind)) for name, kind in rows]


@dataclass
class ExportPlan:
    """What an export will write: rows per (table, day), known before anything is written."""

    days: dict[str, dict[date | None, int]] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(sum(d.values()) for d in self.days.values())

    @property
    def steps(self) -> int:
        return sum(len(d) for d in self.days.values())


def _since_day(since: datetime | None) -> date | None:
    # Whole UTC days: an export replaces the days it writes, so it must write all of each.
    return since.astimezone(UTC).date() if since is not None else None


def plan_export(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> ExportPlan:
    """Count the rows per table and UTC day that an export from ``since`` would write."""
    plan = ExportPlan()
    first = _since_day(since)
    for layout in TABLE_LAYOUT:
        day = day_sql(layout.time_sql)
        where = f"WHERE {day} >= ?" if first is not None else ""
        rows = con.execute(
            f"SELECT {day} AS d, count(*) FROM {layout.source()} {where} GROUP BY d ORDER BY d",
            [first] if first is not None else [],
        ).fetchall()
        if rows:
            plan.days[layout.table] = {r[0]: int(r[1]) for r in rows}
    return plan


def export_parquet(
    db: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    since: str | datetime | date | timedelta | None = None,
    *,
    progress: Callable[[str, date | None, int], None] | None = None,
    plan: ExportPlan | None = None,
) -> dict[str, int]:
    """Write the database's tables as Hive-partitioned Parquet under ``out_dir``.

    ``since`` (``"1d"``, an ISO date, a ``datetime`` ...) limits the export to the UTC days
    from that instant's day on; those days' partitions in ``out_dir`` are replaced. Returns
    the rows written per table. ``progress(table, day, rows)`` is called after each day.
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    first = _since_day(parse_since(since))
    written: dict[str, int] = {}
    con = connect(db)
    try:
        the_plan = plan or plan_export(
            con, datetime(first.year, first.month, first.day, tzinfo=UTC) if first else None
        )
        for layout in TABLE_LAYOUT:
            days = the_plan.days.get(layout.table)
            if not days:
                continue
            for day, rows in days.items():
                target = day_dir(out, layout.table, day)
                if target.exists():
                    shutil.rmtree(target)
                cond = (
                    f"{day_sql(layout.time_sql)} = ?"
                    if day is not None
                    else f"{layout.time_sql} IS NULL"
                )
                writer = PartitionedWriter(out, layout.table, f"part-{uuid.uuid4().hex}")
                try:
                    params = [day] if day is not None else None
                    reader = con.sql(select_sql(layout, cond), params=params).to_arrow_reader(
                        65_536
                    )
                    for batch in reader:
                        writer.write(batch)
                    publish(writer.close())
                except BaseException:
                    writer.abort()
                    raise
                written[layout.table] = written.get(layout.table, 0) + rows
                if progress is not None:
                    progress(layout.table, day, rows)
    finally:
        con.close()
    manifest = {
        "format": "semtrace-parquet",
        "schema_version": schema.SCHEMA_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "since_day": first.isoformat() if first else None,
        "partitioning": {
            layout.table: [DATE_KEY, SERVICE_KEY] if layout.by_service else [DATE_KEY]
            for layout in TABLE_LAYOUT
        },
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return written


def _hive_types(layout: TableLayout) -> str:
    types = f"'{DATE_KEY}': 'DATE'"
    if layout.by_service:
        types += f", '{SERVICE_KEY}': 'VARCHAR'"
    return "{" + types + "}"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def import_parquet(
    in_dir: str | os.PathLike[str],
    db: str | os.PathLike[str] | None = None,
    *,
    tables: Sequence[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Load an export back into ``db`` (default: the configured database); returns rows added.

    Idempotent: rows whose key (``trace_id, span_id`` for spans, ``log_id`` for logs, ...)
    is already in the database are skipped, so importing the same folder twice adds nothing.
    """
    root = Path(in_dir).expanduser()
    if not root.is_dir():
        raise ConfigurationError(f"{root} is not a folder written by `semtrace export`")
    if db is None:
        from semtrace._connect import default_db

        db = default_db()
    store = open_store(resolve_path(db))
    added: dict[str, int] = {}
    for layout in TABLE_LAYOUT:
        if tables is not None and layout.table not in tables:
            continue
        folder = root / layout.table
        if not folder.is_dir() or not any(folder.rglob("*.parquet")):
            continue
        pattern = _sql_str(str(folder / "**" / "*.parquet"))
        source = (
            f"read_parquet({pattern}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {_hive_types(layout)})"
        )
        cursor = store.cursor()
        try:
            present = {name for name, _ in _columns(cursor, layout.table)}
            in_file = {
                str(r[0]) for r in cursor.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            }
        finally:
            cursor.close()
        cols = [c for c in present if c in in_file]
        col_list = ", ".join(f'src."{c}"' for c in cols)
        match = " AND ".join(
            f'dst."{k}" IS NOT DISTINCT FROM src."{k}"' for k in layout.keys if k in cols
        )
        row = store.execute(
            f"INSERT INTO {layout.table} BY NAME SELECT {col_list} FROM {source} AS src "
            f"WHERE NOT EXISTS (SELECT 1 FROM {layout.table} AS dst WHERE {match})"
        ).fetchone()
        added[layout.table] = int(row[0]) if row else 0
        if progress is not None:
            progress(layout.table, added[layout.table])
    return added
