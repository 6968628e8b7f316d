"""A bounded on-disk spool for batches that could not be stored or delivered (the file
locked, read-only, deleted, its disk full, or its owner unreachable).

One batch is one file beside the database (``X.spool/``), written atomically: its tables as
framed Arrow IPC streams (:func:`encode_tables`), named by time, process and the batch's id,
so a batch replayed twice (acknowledged but the answer lost) is recognised by its owner.
Several processes spool into and replay from the same folder: a replayer first claims a batch
by renaming it (only one rename wins), and a claim whose process died is released again.
Past the size bound new batches are refused and counted.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from semtrace.store._process import pid_alive

__all__ = [
    "DEFAULT_MAX_SPOOL_BYTES",
    "ENV_SPOOL_DIR",
    "Spool",
    "SpooledBatch",
    "decode_tables",
    "encode_tables",
    "spool_dir_for",
]

DEFAULT_MAX_SPOOL_BYTES = 256 * 1024 * 1024
ENV_SPOOL_DIR = "SEMTRACE_SPOOL_DIR"
_SUFFIX = ".batch"
_CLAIM = ".claimed-"
_FRAME = struct.Struct("<HQ")  # table name length, IPC stream length


def encode_tables(tables: Sequence[tuple[str, pa.Table]]) -> bytes:
    """``(table_name, arrow_table)`` pairs as one byte string: per table, its name and one
    Arrow IPC stream (the body of an owner's ``/v1/batches`` and of a spool file)."""
    out = bytearray()
    for name, table in tables:
        if table.num_rows == 0:
            continue
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        stream = sink.getvalue()
        encoded = name.encode()
        out += _FRAME.pack(len(encoded), stream.size)
        out += encoded
        out += memoryview(stream)
    return bytes(out)


def decode_tables(data: bytes | memoryview) -> list[tuple[str, pa.Table]]:
    """The pairs :func:`encode_tables` wrote; ``ValueError`` when ``data`` is not that."""
    view = memoryview(data)
    tables: list[tuple[str, pa.Table]] = []
    pos = 0
    try:
        while pos < len(view):
            name_len, size = _FRAME.unpack_from(view, pos)
            pos += _FRAME.size
            name = bytes(view[pos : pos + name_len]).decode()
            pos += name_len
            if pos + size > len(view):
                raise ValueError("a table is truncated")
            buffer = pa.py_buffer(view[pos : pos + size])
            tables.append((name, ipc.open_stream(buffer).read_all()))
            pos += size
    except (struct.error, UnicodeDecodeError, pa.ArrowException) as exc:
        raise ValueError(f"not a semtrace batch: {exc}") from None
    return tables


def spool_dir_for(db_path: str) -> Path:
    """Where the spool of ``db_path`` lives: ``<db>.spool/`` beside the file, or under
    ``$SEMTRACE_SPOOL_DIR`` (put it on another disk to survive the database's disk filling)."""
    root = os.environ.get(ENV_SPOOL_DIR)
    if root:
        name = db_path.strip("/").replace("/", "_")
        return Path(root) / f"{name}.spool"
    return Path(db_path + ".spool")


@dataclass(frozen=True)
class SpooledBatch:
    """A claimed batch: store or deliver it, then :meth:`Spool.discard` or
    :meth:`Spool.release` it."""

    path: Path  # the claimed file
    batch_id: str
    tables: list[tuple[str, pa.Table]]

    @property
    def rows(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, table in self.tables:
            out[name] = out.get(name, 0) + table.num_rows
        return out


class Spool:
    """Batches of ``(table_name, arrow_table)`` pairs, oldest first; safe across threads
    and processes."""

    def __init__(
        self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_SPOOL_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._last_key = 0

    def _entries(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if not p.name.endswith(".tmp"))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def pending_bytes(self) -> int:
        total = 0
        for p in self._entries():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def pending_batches(self) -> int:
        """Batches waiting, claimed ones included (not those set aside as unreadable)."""
        return sum(1 for p in self._entries() if not p.name.endswith(".bad"))

    def put(self, tables: Sequence[tuple[str, pa.Table]], batch_id: str) -> bool:
        """Keep one batch; ``False`` when the spool is full or cannot be written."""
        try:
            data = encode_tables(tables)
        except pa.ArrowException:
            return False
        return self.put_encoded(data, batch_id)

    def put_encoded(self, data: bytes, batch_id: str) -> bool:
        """:meth:`put` for a batch already encoded by :func:`encode_tables`."""
        with self._lock:
            if self.pending_bytes() + len(data) > self.max_bytes:
                return False
            # Names sort by time, oldest first, and never collide across processes.
            key = max(time.time_ns(), self._last_key + 1)
            self._last_key = key
            final = self.directory / f"{key:020d}-{os.getpid()}-{next(self._counter)}-{batch_id}"
            final = final.with_name(final.name + _SUFFIX)
            tmp = final.with_name(final.name + ".tmp")
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, final)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                return False
        return True

    def batches(self) -> Iterator[SpooledBatch]:
        """Pending batches, oldest first, each claimed by this process as it is yielded.

        A claim whose process is gone is released first. A batch that cannot be read is
        left aside (renamed ``.bad``) so it never blocks the others."""
        self._release_dead_claims()
        for path in self._entries():
            if not path.name.endswith(_SUFFIX):
                continue
            claimed = path.with_name(f"{path.name}{_CLAIM}{os.getpid()}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            batch_id = path.name[: -len(_SUFFIX)].split("-", 3)[-1]
            try:
                tables = decode_tables(claimed.read_bytes())
            except (OSError, ValueError):
                with contextlib.suppress(OSError):
                    os.rename(claimed, path.with_name(path.name + ".bad"))
                continue
            yield SpooledBatch(claimed, batch_id, tables)

    def _release_dead_claims(self) -> None:
        for path in self._entries():
            name, sep, pid = path.name.rpartition(_CLAIM)
            if not sep or not pid.isdigit():
                continue
            if not pid_alive(int(pid)):
                with contextlib.suppress(OSError):
                    os.rename(path, path.with_name(name))

    @staticmethod
    def discard(batch: SpooledBatch) -> None:
        """Forget a batch that was stored or delivered."""
        with contextlib.suppress(FileNotFoundError):
            batch.path.unlink()

    @staticmethod
    def release(batch: SpooledBatch) -> None:
        """Put a claimed batch back for a later replay."""
        name = batch.path.name.rpartition(_CLAIM)[0]
        with contextlib.suppress(OSError):
            os.rename(batch.path, batch.path.with_name(name))
