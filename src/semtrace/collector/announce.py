"""The sidecar file a collector writes next to the database it owns (the one-writer rule).

``semtrace serve --db X`` writes ``X.collector.json`` naming its URL and pid; ``configure()``,
``semtrace sql`` and ``connect()`` pointed at ``X`` read it and talk to the collector instead
of opening the file. An announcement whose process is gone is stale: it is ignored and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from semtrace.store.database import resolve_path

__all__ = [
    "ANNOUNCE_SUFFIX",
    "Announcement",
    "announcement_path",
    "pid_alive",
    "read_announcement",
    "remove_announcement",
    "write_announcement",
]

ANNOUNCE_SUFFIX = ".collector.json"


@dataclass(frozen=True)
class Announcement:
    """Who owns a database file: the collector's base URL and process id."""

    url: str
    pid: int
    db: str
    token_required: bool = False
    started_at: float = 0.0


def announcement_path(db: str | os.PathLike[str]) -> Path:
    """Where the announcement for database ``db`` lives."""
    return Path(resolve_path(db) + ANNOUNCE_SUFFIX)


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` runs (a zombie, killed but not reaped, counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) succeeding is the best evidence there is
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def write_announcement(ann: Announcement) -> Path:
    """Write the announcement atomically (readers never see half a file)."""
    path = announcement_path(ann.db)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(ann)))
    os.replace(tmp, path)
    return path


def remove_announcement(db: str | os.PathLike[str], pid: int | None = None) -> None:
    """Remove the announcement for ``db`` (only if it is ``pid``'s, when given)."""
    path = announcement_path(db)
    if pid is not None:
        current = _load(path)
        if current is not None and current.pid != pid:
            return
    path.unlink(missing_ok=True)


def _load(path: Path) -> Announcement | None:
    try:
        data = json.loads(path.read_text())
        return Announcement(
            url=str(data["url"]),
            pid=int(data["pid"]),
            db=str(data.get("db", "")),
            token_required=bool(data.get("token_required", False)),
            started_at=float(data.get("started_at", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _listening(url: str) -> bool:
    """False only when nothing listens at ``url`` (a reused pid after a reboot, say)."""
    parsed = urlsplit(url)
    if parsed.hostname is None or parsed.port is None:
        return False
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=0.5):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True  # slow or filtered, not proven dead: keep the announcement


def read_announcement(db: str | os.PathLike[str]) -> Announcement | None:
    """The live collector owning ``db``, or None; a stale announcement (its pid dead, or
    nothing listening at its URL) is removed."""
    path = announcement_path(db)
    if not path.exists():
        return None
    ann = _load(path)
    if ann is None:
        # Unreadable: maybe mid-write by a starting collector; give it one more look.
        time.sleep(0.05)
        ann = _load(path)
        if ann is None:
            return None
    if not pid_alive(ann.pid) or not _listening(ann.url):
        with contextlib.suppress(OSError):
            remove_announcement(db, pid=ann.pid)
        return None
    return ann
