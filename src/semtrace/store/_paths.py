"""How a database file is named across processes: one canonical absolute path."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["resolve_path"]


def resolve_path(path: str | os.PathLike[str]) -> str:
    """The canonical absolute path used to recognise one database file across callers."""
    return str(Path(path).expanduser().resolve())
