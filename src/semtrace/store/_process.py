"""Whether a process still runs: for announcements and spool claims left by the dead."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["pid_alive"]


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
