"""Which files of a lake a reader reads: every published file, each row exactly once.

Owners only add files. Compaction replaces several files of a partition with fewer, and no
file system renames several files at once, so it leaves a marker
``_compaction-<id>.json`` in the partition naming the files it wrote (``outputs``) and the
ones they replace (``inputs``), written *before* its outputs appear. A reader lists the
Parquet files of a folder, then the markers; for each marker, the inputs are left out once
all of its outputs are listed, and the outputs are left out until then. So a query sees the
old files or the new ones, never both and never neither. The inputs are deleted after a
grace period (queries that listed them before may still be reading them), then the marker.

Readers that glob ``**/*.parquet`` themselves count a compacted partition twice during that
grace period: read the lake through :func:`semtrace.connect` (``lake=``) or
:func:`semtrace.spark.register`, which use :func:`visible_files`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from semtrace.lake.layout import PARQUET

__all__ = [
    "MARKER_PREFIX",
    "CompactionMarker",
    "partition_dirs",
    "read_marker",
    "visible_files",
]

MARKER_PREFIX = "_compaction-"
_HIDDEN = (".", "_")


@dataclass(frozen=True)
class CompactionMarker:
    """A compaction of one partition: files written (temporary -> final) and files replaced."""

    path: Path
    outputs: tuple[tuple[str, str], ...]  # (temporary name, final name) in the partition
    inputs: tuple[str, ...]
    created_at: float

    @property
    def output_names(self) -> frozenset[str]:
        return frozenset(final for _, final in self.outputs)


def read_marker(path: Path) -> CompactionMarker | None:
    """The marker at ``path`` (None if it vanished: its compaction finished meanwhile)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return CompactionMarker(
        path=path,
        outputs=tuple((str(tmp), str(final)) for tmp, final in doc["outputs"]),
        inputs=tuple(str(name) for name in doc["inputs"]),
        created_at=float(doc["created_at"]),
    )


def partition_dirs(root: Path, table: str) -> Iterator[Path]:
    """Every folder under ``root/table`` (partitions at any depth), hidden ones skipped."""
    top = root / table
    if not top.is_dir():
        return
    for dirpath, dirnames, _ in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(_HIDDEN))
        yield Path(dirpath)


def _visible_in(folder: Path) -> list[Path]:
    try:
        names = {n for n in os.listdir(folder) if n.endswith(PARQUET) and not n.startswith(_HIDDEN)}
    except FileNotFoundError:  # a partition removed by retention meanwhile
        return []
    if not names:
        return []
    # Markers are listed after the data files: a marker is written before its outputs, so
    # one whose output was listed above is listed here.
    markers = [folder / n for n in os.listdir(folder) if n.startswith(MARKER_PREFIX)]
    for path in markers:
        marker = read_marker(path)
        if marker is None:
            continue
        if marker.output_names <= names:
            names -= set(marker.inputs)
        else:
            names -= marker.output_names
    return [folder / n for n in sorted(names)]


def visible_files(root: Path, table: str) -> list[Path]:
    """The Parquet files of ``table`` a reader should read now (see the module doc)."""
    return [f for folder in partition_dirs(root, table) for f in _visible_in(folder)]
