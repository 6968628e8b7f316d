"""Start the Streamlit server on the dashboard's entry script, headless."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["APP", "ENV_DB", "ENV_SERVER", "launch", "resolve_db", "streamlit_command"]

# How `semtrace dashboard` tells the Streamlit script what to read.
ENV_DB = "SEMTRACE_DASHBOARD_DB"
ENV_SERVER = "SEMTRACE_DASHBOARD_SERVER"

APP = Path(__file__).with_name("app.py")


def streamlit_command(*, port: int = 8501, host: str = "127.0.0.1") -> list[str]:
    """The ``streamlit run`` command line for the dashboard (headless, no telemetry)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        f"--server.port={port}",
        f"--server.address={host}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--theme.base=light",
        "--client.toolbarMode=viewer",
    ]


def resolve_db(db: str | os.PathLike[str] | None) -> str:
    """The database file the dashboard will read; raises if it does not exist."""
    from semtrace._connect import default_db
    from semtrace.store.database import resolve_path

    path = resolve_path(db) if db is not None else default_db()
    if not Path(path).exists():
        raise FileNotFoundError(
            f"no semtrace database at {path}. Create one with `semtrace demo --db {path}` "
            "or semtrace.configure(db=...), or pass --db with an existing file."
        )
    return path


def launch(
    *,
    db: str | os.PathLike[str] | None = None,
    server: str | None = None,
    port: int = 8501,
    host: str = "127.0.0.1",
) -> int:
    """Run the dashboard until interrupted; returns Streamlit's exit code.

    ``db`` is read directly (read-only), or through the collector that owns it; ``server``
    names a collector by URL instead.
    """
    env = dict(os.environ)
    if server:
        env[ENV_SERVER] = server
        env.pop(ENV_DB, None)
    else:
        path = resolve_db(db)
        env[ENV_DB] = path
    try:
        return subprocess.call(streamlit_command(port=port, host=host), env=env)
    except KeyboardInterrupt:
        return 0
