"""A bounded on-disk spool for batches the store could not take (locked, read-only, deleted,
disk full). Batches are Arrow IPC files written atomically next to the database and replayed
in order when the store is back; past the size bound new batches are refused and counted."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

__all__ = ["DEFAULT_MAX_SPOOL_BYTES", "ENV_SPOOL_DIR", "Spool", "spool_dir_for"]

DEFAULT_MAX_SPOOL_BYTES = 256 * 1024 * 1024
_SUFFIX = ".arrow"


ENV_SPOOL_DIR = "SEMTRACE_SPOOL_DIR"


def spool_dir_for(db_path: str) -> Path:
    """Where the spool of ``db_path`` lives: ``<db>.spool/`` beside the file, or under
    ``$SEMTRACE_SPOOL_DIR`` (put it on another disk to survive the database's disk filling)."""
    root = os.environ.get(ENV_SPOOL_DIR)
    if root:
        name = db_path.strip("/").replace("/", "_")
        return Path(root) / f"{name}.spool"
    return Path(db_path + ".spool")


class Spool:
    """Batches of ``(table_name, arrow_table)`` pairs, oldest first; thread-safe."""

    def __init__(
        self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_SPOOL_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seq = 0

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))

    def pending_bytes(self) -> int:
        total = 0
        for p in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def pending_batches(self) -> int:
        return len({p.name.split("-")[0] for p in self._files()})

    def put(self, tables: list[tuple[str, pa.Table]]) -> bool:
        """Keep one batch; ``False`` when the spool is full or cannot be written."""
        size = sum(t.nbytes for _, t in tables)
        with self._lock:
            if self.pending_bytes() + size > self.max_bytes:
                return False
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                existing = self._files()
                if existing:
                    self._seq = max(self._seq, int(existing[-1].name.split("-")[0]) + 1)
                seq = self._seq
                self._seq += 1
                for i, (name, table) in enumerate(tables):
                    if table.num_rows == 0:
                        continue
                    final = self.directory / f"{seq:012d}-{i:02d}-{name}{_SUFFIX}"
                    tmp = final.with_suffix(".tmp")
                    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as w:
                        w.write_table(table)
                    os.replace(tmp, final)
            except OSError:
                return False
        return True

    def batches(self) -> Iterator[tuple[list[Path], list[tuple[str, pa.Table]]]]:
        """Pending batches, oldest first, as (files, tables); delete the files once stored."""
        groups: dict[str, list[Path]] = {}
        for p in self._files():
            groups.setdefault(p.name.split("-")[0], []).append(p)
        for seq in sorted(groups):
            files = sorted(groups[seq])
            tables: list[tuple[str, pa.Table]] = []
            for p in files:
                name = p.name[len(seq) + 4 : -len(_SUFFIX)]
                with pa.memory_map(str(p), "r") as source:
                    tables.append((name, ipc.open_file(source).read_all()))
            yield files, tables

    @staticmethod
    def discard(files: list[Path]) -> None:
        for p in files:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
