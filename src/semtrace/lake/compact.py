"""``semtrace lake compact``: fewer, larger files per partition, and a retention window.

Safe while owners write: owners only add files, and compaction only merges files that were
published when it listed the partition. It writes the merged files as hidden temporaries,
then a marker naming them and the files they replace, then renames them into place (see
:mod:`semtrace.lake.files` for how readers use the marker to see each row exactly once).
The replaced files are deleted by a later run, once ``grace_s`` has passed since the marker,
so a query that listed them before can still read them; then the marker goes.

One compaction runs at a time per lake (a lock file under ``_semtrace/``; a lock older than
an hour is taken as left by a crash). A compaction killed midway is finished by the next:
markers whose outputs are still temporaries are rolled forward.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from semtrace.exceptions import ConfigurationError, SemtraceError
from semtrace.lake.files import MARKER_PREFIX, partition_dirs, read_marker
from semtrace.lake.layout import (
    DATE_KEY,
    LAYOUTS,
    PARQUET,
    TMP_SUFFIX,
    file_schema,
    fsync_dir,
    publish,
    write_atomic,
)
from semtrace.lake.read import is_lake
from semtrace.lake.sink import state_dir

__all__ = ["DEFAULT_GRACE_S", "CompactionReport", "LakeBusyError", "compact"]

DEFAULT_GRACE_S = 600.0
DEFAULT_TARGET_ROWS = 1_000_000
_STALE_LOCK_S = 3600.0
_HIDDEN = (".", "_")


class LakeBusyError(SemtraceError):
    """Another compaction holds the lake's lock."""


@dataclass
class CompactionReport:
    """What one run did."""

    partitions: int = 0  # partitions merged
    files_in: int = 0
    files_out: int = 0
    rows: int = 0
    removed_files: int = 0  # replaced files deleted after their grace period
    expired_partitions: list[str] = field(default_factory=list)


@contextmanager
def _lock(lake: Path) -> Iterator[None]:
    path = state_dir(lake) / "compact.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "at": time.time()})
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > _STALE_LOCK_S:
                path.unlink(missing_ok=True)
                continue
            raise LakeBusyError(
                f"another `semtrace lake compact` is running on {lake} ({path} exists; "
                "delete it if no compaction runs)"
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(doc)
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _settle_markers(folder: Path, grace_s: float, report: CompactionReport) -> None:
    """Roll forward markers of an interrupted run; delete what their grace has passed."""
    now = time.time()
    for name in sorted(os.listdir(folder)):
        if not name.startswith(MARKER_PREFIX):
            continue
        marker = read_marker(folder / name)
        if marker is None:
            continue
        publish((folder / tmp, folder / final) for tmp, final in marker.outputs)
        if now - marker.created_at < grace_s:
            continue
        for old in marker.inputs:
            if (folder / old).exists():
                (folder / old).unlink()
                report.removed_files += 1
        marker.path.unlink(missing_ok=True)
        fsync_dir(folder)
    for name in os.listdir(folder):  # temporaries of a compaction that died before its marker
        if name.startswith(".compact-") and name.endswith(TMP_SUFFIX):
            (folder / name).unlink(missing_ok=True)


def _pending_inputs(folder: Path) -> set[str]:
    """Files already replaced by a marker still in its grace period (not to merge again)."""
    out: set[str] = set()
    for name in os.listdir(folder):
        if name.startswith(MARKER_PREFIX) and (marker := read_marker(folder / name)):
            out |= set(marker.inputs) | marker.output_names
    return out


def _merge(
    folder: Path, table: str, inputs: list[str], target_rows: int, report: CompactionReport
) -> None:
    target = file_schema(table)
    run = uuid.uuid4().hex[:12]
    outputs: list[tuple[str, str]] = []
    writer: pq.ParquetWriter | None = None
    rows_in_file = 0

    def roll() -> None:
        nonlocal writer, rows_in_file
        if writer is not None:
            writer.close()
            fd = os.open(folder / outputs[-1][0], os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        writer = None
        rows_in_file = 0

    try:
        for name in inputs:
            table_in = pq.read_table(folder / name)
            # A file of an older declaration lacks newer columns: they become NULL.
            cols = [
                table_in.column(f.name).cast(f.type)
                if f.name in table_in.column_names
                else pa.nulls(table_in.num_rows, f.type)
                for f in target
            ]
            data = pa.Table.from_arrays(cols, schema=target)
            offset = 0
            while offset < data.num_rows:
                if writer is None:
                    final = f"part-compact-{run}-{len(outputs):04d}{PARQUET}"
                    tmp = f".compact-{run}-{len(outputs):04d}{PARQUET}{TMP_SUFFIX}"
                    outputs.append((tmp, final))
                    writer = pq.ParquetWriter(folder / tmp, target, compression="zstd")
                chunk = data.slice(offset, target_rows - rows_in_file)
                writer.write_table(chunk, row_group_size=131_072)
                rows_in_file += chunk.num_rows
                offset += chunk.num_rows
                report.rows += chunk.num_rows
                if rows_in_file >= target_rows:
                    roll()
        roll()
    except BaseException:
        if writer is not None:
            writer.close()
        for tmp, _ in outputs:
            (folder / tmp).unlink(missing_ok=True)
        raise
    marker = {
        "format": "semtrace-lake-compaction",
        "created_at": time.time(),
        "outputs": outputs,
        "inputs": inputs,
    }
    write_atomic(folder / f"{MARKER_PREFIX}{run}.json", json.dumps(marker).encode())
    publish((folder / tmp, folder / final) for tmp, final in outputs)
    report.partitions += 1
    report.files_in += len(inputs)
    report.files_out += len(outputs)


def _partition_day(folder: Path) -> date | None:
    for part in folder.parts:
        if part.startswith(f"{DATE_KEY}="):
            try:
                return date.fromisoformat(part.split("=", 1)[1])
            except ValueError:
                return None
    return None


def compact(
    lake: str | os.PathLike[str],
    *,
    retention: timedelta | None = None,
    target_rows: int = DEFAULT_TARGET_ROWS,
    small_bytes: int = 64 * 1024 * 1024,
    grace_s: float = DEFAULT_GRACE_S,
    now: datetime | None = None,
) -> CompactionReport:
    """Merge each partition's small files (under ``small_bytes``) into files of up to
    ``target_rows`` rows; delete the partitions of days wholly older than ``retention``."""
    root = Path(lake).expanduser().resolve()
    if not is_lake(root):
        raise ConfigurationError(f"{root} is not a semtrace lake (no spans/, logs/, ... folders)")
    moment = now or datetime.now(UTC)
    report = CompactionReport()
    cutoff = (moment - retention).date() if retention is not None else None
    with _lock(root):
        for table in LAYOUTS:
            for folder in list(partition_dirs(root, table)):
                day = _partition_day(folder)
                if cutoff is not None and day is not None and day < cutoff:
                    if folder.name.startswith(f"{DATE_KEY}="):  # the day's folder, once
                        shutil.rmtree(folder, ignore_errors=True)
                        report.expired_partitions.append(str(folder.relative_to(root)))
                    continue
                if not folder.is_dir():
                    continue
                _settle_markers(folder, grace_s, report)
                taken = _pending_inputs(folder)
                small = sorted(
                    n
                    for n in os.listdir(folder)
                    if n.endswith(PARQUET)
                    and not n.startswith(_HIDDEN)
                    and n not in taken
                    and (folder / n).stat().st_size < small_bytes
                )
                if len(small) >= 2:
                    _merge(folder, table, small, target_rows, report)
                    if grace_s <= 0:
                        _settle_markers(folder, grace_s, report)
    return report
