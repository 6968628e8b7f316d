"""What a lake holds and who writes it: files per table, each owner's progress."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from semtrace.exceptions import ConfigurationError
from semtrace.lake.files import visible_files
from semtrace.lake.layout import LAYOUTS
from semtrace.lake.read import is_lake
from semtrace.lake.sink import state_dir

__all__ = ["LakeStatus", "OwnerStatus", "lake_status"]


@dataclass(frozen=True)
class OwnerStatus:
    """One owner's state file: which database it follows and how far it published."""

    owner: str
    host: str
    db: str
    updated_at: float
    watermarks: dict[str, int]
    pending: bool


@dataclass
class LakeStatus:
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # files, bytes
    owners: list[OwnerStatus] = field(default_factory=list)


def lake_status(lake: str | os.PathLike[str]) -> LakeStatus:
    """Files (and bytes) a reader sees per table, and every owner's state."""
    root = Path(lake).expanduser().resolve()
    if not is_lake(root):
        raise ConfigurationError(f"{root} is not a semtrace lake (no spans/, logs/, ... folders)")
    status = LakeStatus()
    for table in LAYOUTS:
        files = visible_files(root, table)
        status.tables[table] = (len(files), sum(f.stat().st_size for f in files))
    owners = state_dir(root) / "owners"
    for path in sorted(owners.glob("*.json")) if owners.is_dir() else []:
        doc = json.loads(path.read_text())
        status.owners.append(
            OwnerStatus(
                owner=str(doc.get("owner", path.stem)),
                host=str(doc.get("host", "")),
                db=str(doc.get("db", "")),
                updated_at=float(doc.get("updated_at", 0.0)),
                watermarks={str(k): int(v) for k, v in doc.get("watermarks", {}).items()},
                pending=doc.get("pending") is not None,
            )
        )
    return status
