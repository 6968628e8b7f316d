"""Where a row goes in a Parquet lake, and how a file appears there.

A lake (and an export) is Hive-partitioned: ``<table>/date=YYYY-MM-DD/[service_name=NAME/]``
holds ``part-*.parquet`` files. ``spans`` and ``logs`` are partitioned by UTC day and service,
the other tables by day. Files hold the contract's columns with their declared Arrow types
(JSON as text) minus the partition keys, which readers take from the path (DuckDB
``hive_partitioning``, Spark, polars). A partition value is percent-encoded, a NULL one is
``__HIVE_DEFAULT_PARTITION__``, as DuckDB and Spark both write and read them.

A file appears atomically: :class:`PartitionedWriter` writes hidden temporary files (``.``
prefix, ``.tmp`` suffix: no reader's ``*.parquet`` glob nor Spark's listing takes them),
``fsync`` s them, and :func:`publish` gives each its final name, never over a file already
there: a name another writer took is an error (:class:`NameTaken`), not an overwrite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from semtrace.store import schema

__all__ = [
    "DATE_KEY",
    "DEFAULT_PARTITION",
    "LAYOUTS",
    "SERVICE_KEY",
    "NameTaken",
    "PartitionedWriter",
    "TableLayout",
    "day_dir",
    "day_sql",
    "file_schema",
    "fsync_dir",
    "partition_dir",
    "publish",
    "select_sql",
    "write_atomic",
]

DATE_KEY = "date"
SERVICE_KEY = "service_name"
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
TMP_SUFFIX = ".tmp"
PARQUET = ".parquet"


@dataclass(frozen=True)
class TableLayout:
    """How one table is partitioned and what identifies a row of it."""

    table: str
    time_sql: str  # a TIMESTAMPTZ expression over the table's alias ``t``
    by_service: bool
    keys: tuple[str, ...]
    # FROM clause when the day comes from a join; ``{spans}`` is the spans relation to use.
    source_sql: str = ""

    def source(self, spans: str = schema.SPANS) -> str:
        return self.source_sql.format(spans=spans) if self.source_sql else f"{self.table} AS t"

    @property
    def partition_keys(self) -> tuple[str, ...]:
        return (DATE_KEY, SERVICE_KEY) if self.by_service else (DATE_KEY,)


# Every append-only table of the contract. ``task_answers`` is not here: it is the owner's
# mailbox for waiting tasks, updated in place as answers are delivered, not telemetry; over a
# lake it reads as an empty table.
LAYOUTS: dict[str, TableLayout] = {
    layout.table: layout
    for layout in (
        TableLayout(schema.SPANS, "t.start_time", True, ("trace_id", "span_id")),
        TableLayout(schema.LOGS, "t.time", True, ("log_id",)),
        TableLayout(
            schema.SPAN_EVENTS, "t.time", False, ("trace_id", "span_id", "time_ns", "name")
        ),
        # A link has no time of its own: it lives in the day of the span it belongs to.
        TableLayout(
            schema.SPAN_LINKS,
            "s.start_time",
            False,
            ("trace_id", "span_id", "linked_trace_id", "linked_span_id"),
            source_sql=(
                f"{schema.SPAN_LINKS} AS t LEFT JOIN (SELECT trace_id, span_id, "
                "min(start_time) AS start_time FROM {spans} GROUP BY ALL) AS s "
                "USING (trace_id, span_id)"
            ),
        ),
        TableLayout(schema.DIAGNOSES, "t.created_at", False, ("fingerprint", "created_at")),
        TableLayout(
            schema.FAILURE_FINGERPRINTS,
            "t.time",
            False,
            ("fingerprint", "trace_id", "span_id", "log_id"),
        ),
        TableLayout(
            schema.HEAL_ATTEMPTS,
            "t.time",
            False,
            ("time", "trace_id", "span_id", "attempt", "action"),
        ),
        TableLayout(schema.SEMTRACE_STATS, "t.time", False, ("time", "pid", "component")),
    )
}


def day_sql(time_sql: str) -> str:
    """The UTC day of a TIMESTAMPTZ expression, in SQL."""
    return f"CAST(timezone('UTC', {time_sql}) AS DATE)"


def select_sql(layout: TableLayout, where: str = "", *, spans: str = schema.SPANS) -> str:
    """The SELECT that reads ``layout``'s table as the lake stores it: the declared columns
    (JSON as text) plus the ``date`` partition key, rows filtered by ``where``."""
    parts = []
    for column in schema.table(layout.table).columns:
        expr = f't."{column.name}"'
        parts.append(
            f'CAST({expr} AS VARCHAR) AS "{column.name}"' if column.type is schema.JSON else expr
        )
    parts.append(f'{day_sql(layout.time_sql)} AS "{DATE_KEY}"')
    clause = f" WHERE {where}" if where else ""
    return f"SELECT {', '.join(parts)} FROM {layout.source(spans)}{clause}"


def file_schema(table: str) -> pa.Schema:
    """The Arrow schema of a lake file of ``table``: declared columns minus partition keys.
    Every column is nullable in files, so a file of an older declaration still reads."""
    keys = LAYOUTS[table].partition_keys
    return pa.schema(
        [pa.field(c.name, c.type.arrow) for c in schema.table(table).columns if c.name not in keys]
    )


def _encode(value: object) -> str:
    if value is None:
        return DEFAULT_PARTITION
    text = value.isoformat() if isinstance(value, date) else str(value)
    return quote(text, safe="") if text else DEFAULT_PARTITION


def day_dir(root: Path, table: str, day: date | None) -> Path:
    """The folder of one day of ``table`` (holding its service partitions, if any)."""
    return root / table / f"{DATE_KEY}={_encode(day)}"


def partition_dir(root: Path, table: str, values: Sequence[object]) -> Path:
    """The folder of one partition: ``root/table/date=.../service_name=...``."""
    path = root / table
    for key, value in zip(LAYOUTS[table].partition_keys, values, strict=True):
        path = path / f"{key}={_encode(value)}"
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class NameTaken(FileExistsError):
    """Final names that other files already had: those temporaries were left unpublished."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]]) -> None:
        self.pairs = list(pairs)
        super().__init__(
            f"{len(self.pairs)} lake file name(s) already taken by another file, "
            f"e.g. {self.pairs[0][1]}; nothing was overwritten"
        )


def _place(tmp: Path, final: Path) -> None:
    """Give ``tmp`` the name ``final`` unless a file has it (FileExistsError then)."""
    try:
        os.link(tmp, final)  # atomic, and fails rather than replace
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if final.exists():
            raise FileExistsError(final) from None
        os.replace(tmp, final)
        return
    tmp.unlink()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def publish(files: Iterable[tuple[Path, Path]]) -> None:
    """Give each written temporary file its final name, never replacing a file that has it.

    Idempotent: a pair whose temporary is gone was published already, and one whose
    temporary already is the final file (a crash between link and unlink) is finished. Pairs
    whose final name another file has are left as they are and raised together as
    :class:`NameTaken`, once every other pair is published."""
    dirs: set[Path] = set()
    taken: list[tuple[Path, Path]] = []
    for tmp, final in files:
        if not tmp.exists():
            continue
        try:
            _place(tmp, final)
        except FileExistsError:
            if not _same_file(tmp, final):
                taken.append((tmp, final))
                continue
            tmp.unlink()
        dirs.add(final.parent)
    for folder in dirs:
        fsync_dir(folder)
    if taken:
        raise NameTaken(taken)


class _OpenFile:
    __slots__ = ("final", "rows", "tmp", "writer")

    def __init__(self, tmp: Path, final: Path, writer: pq.ParquetWriter) -> None:
        self.tmp = tmp
        self.final = final
        self.writer = writer
        self.rows = 0


class PartitionedWriter:
    """Writes record batches of one table (with its partition keys as columns) into Hive
    partitions, as hidden temporary files of at most ``max_rows`` rows each.

    The ``n``-th file is named ``{prefix}-{n:04d}.parquet`` (so ``prefix`` makes names
    unique); its temporary name is derived from it and a random token of this writer.
    :meth:`close` closes and ``fsync`` s every file and returns the ``(temporary, final)``
    pairs for :func:`publish`. Rows are buffered per partition into row groups of
    ``row_group_rows``, so many small batches still make a file that reads fast.
    """

    def __init__(
        self,
        root: Path,
        table: str,
        prefix: str,
        *,
        max_rows: int = 1_000_000,
        row_group_rows: int = 131_072,
        compression: str = "zstd",
    ) -> None:
        self.root = root
        self.table = table
        self.layout = LAYOUTS[table]
        self.schema = file_schema(table)
        self._prefix = prefix
        self._max_rows = max_rows
        self._row_group = min(row_group_rows, max_rows)
        self._compression = compression
        self._open: dict[tuple[object, ...], _OpenFile] = {}
        self._buffers: dict[tuple[object, ...], list[pa.Table]] = {}
        self._buffered: dict[tuple[object, ...], int] = {}
        self._done: list[tuple[Path, Path]] = []
        self._count = 0
        self._token = secrets.token_hex(4)
        self.rows = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add rows (the declared columns plus the partition keys)."""
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if table.num_rows == 0:
            return
        keys = self.layout.partition_keys
        key_columns = [table.column(k) for k in keys]
        data = table.select(self.schema.names).cast(self.schema)
        if all(c.null_count == 0 and len(pc.unique(c)) == 1 for c in key_columns):
            self._add(tuple(c[0].as_py() for c in key_columns), data)
            return
        combos = (
            pa.table({k: c for k, c in zip(keys, key_columns, strict=True)})
            .group_by(list(keys), use_threads=False)
            .aggregate([])
        )
        for row in combos.to_pylist():
            mask = None
            for k, column in zip(keys, key_columns, strict=True):
                value = row[k]
                test = (
                    pc.is_null(column)
                    if value is None
                    else pc.equal(column, pa.scalar(value, column.type))
                )
                test = pc.fill_null(test, False)
                mask = test if mask is None else pc.and_(mask, test)
            self._add(tuple(row[k] for k in keys), data.filter(mask))

    def _add(self, key: tuple[object, ...], rows: pa.Table) -> None:
        self.rows += rows.num_rows
        self._buffers.setdefault(key, []).append(rows)
        self._buffered[key] = self._buffered.get(key, 0) + rows.num_rows
        if self._buffered[key] >= self._row_group:
            self._drain(key)

    def _drain(self, key: tuple[object, ...]) -> None:
        pending = pa.concat_tables(self._buffers.pop(key, []))
        self._buffered.pop(key, None)
        offset = 0
        while offset < pending.num_rows:
            handle = self._file(key)
            room = self._max_rows - handle.rows
            chunk = pending.slice(offset, room)
            handle.writer.write_table(chunk, row_group_size=self._row_group)
            handle.rows += chunk.num_rows
            offset += chunk.num_rows
            if handle.rows >= self._max_rows:
                self._finish(key)

    def _file(self, key: tuple[object, ...]) -> _OpenFile:
        handle = self._open.get(key)
        if handle is None:
            folder = partition_dir(self.root, self.table, key)
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{self._prefix}-{self._count:04d}{PARQUET}"
            self._count += 1
            # Private to this writer, so no other writer's file is ever opened over.
            tmp = folder / f".{final.name}.{self._token}{TMP_SUFFIX}"
            writer = pq.ParquetWriter(tmp, self.schema, compression=self._compression)
            handle = self._open[key] = _OpenFile(tmp, final, writer)
        return handle

    def _finish(self, key: tuple[object, ...]) -> None:
        handle = self._open.pop(key)
        handle.writer.close()
        _fsync_file(handle.tmp)
        self._done.append((handle.tmp, handle.final))

    def close(self) -> list[tuple[Path, Path]]:
        """Write what is buffered, close every file; the ``(temporary, final)`` pairs."""
        for key in list(self._buffers):
            self._drain(key)
        for key in list(self._open):
            self._finish(key)
        return list(self._done)

    def abort(self) -> None:
        """Close and remove every temporary file (nothing was published)."""
        for handle in self._open.values():
            with contextlib.suppress(Exception):  # already broken: removing it is all left
                handle.writer.close()
        for handle in self._open.values():
            handle.tmp.unlink(missing_ok=True)
        for tmp, _ in self._done:
            tmp.unlink(missing_ok=True)
        self._open.clear()
        self._done.clear()
        self._buffers.clear()
