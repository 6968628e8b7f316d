"""Start the Streamlit server on the dashboard's entry script, headless."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from semtrace.exceptions import ConfigurationError

__all__ = [
    "APP",
    "DEFAULT_PORT",
    "ENV_DB",
    "ENV_LAKE",
    "ENV_SERVER",
    "choose_port",
    "launch",
    "resolve_db",
    "start_collector",
    "streamlit_command",
]

# How `semtrace dashboard` tells the Streamlit script what to read.
ENV_DB = "SEMTRACE_DASHBOARD_DB"
ENV_SERVER = "SEMTRACE_DASHBOARD_SERVER"
ENV_LAKE = "SEMTRACE_DASHBOARD_LAKE"

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501  # Streamlit's own default
_TRIES = 20  # ports after the default tried before asking the system for any free one


def _free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # As servers bind: a port a closed server left in TIME_WAIT is free, one that
        # something listens on is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(port: int | None, host: str = "127.0.0.1") -> int:
    """The port to serve on: ``port`` when given (a :class:`ConfigurationError` saying what
    to do when it is taken); otherwise the default when free, else the next free one."""
    if port is not None:
        if not _free(port, host):
            raise ConfigurationError(
                f"port {port} on {host} is already in use (another dashboard?). Pass another "
                "--port, or leave --port out to let semtrace pick a free one."
            )
        return port
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + _TRIES):
        if _free(candidate, host):
            return candidate
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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
    """The database file the dashboard will read. It need not exist yet (the dashboard
    waits for the first spans), but its folder must: a :class:`ConfigurationError` says so."""
    from semtrace._connect import default_db
    from semtrace.store.database import resolve_path

    path = resolve_path(db) if db is not None else default_db()
    if not Path(path).parent.is_dir():
        raise ConfigurationError(
            f"the folder of {path} does not exist: check the --db path (or create the folder "
            "the agents will write to)."
        )
    return path


def start_collector(db: str, *, timeout_s: float = 30.0) -> subprocess.Popen[bytes] | None:
    """Start ``semtrace serve`` for ``db`` unless a collector already owns it; returns the
    process once it has announced itself, or None (already owned, or it could not start:
    the file is then read directly)."""
    from semtrace.store.ownership import read_announcement

    if read_announcement(db) is not None:
        return None
    proc = subprocess.Popen(
        [sys.executable, "-m", "semtrace.cli", "serve", "--db", db, "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        ann = read_announcement(db)
        if ann is not None and ann.pid == proc.pid:
            return proc
        time.sleep(0.1)
    proc.terminate()
    return None


def launch(
    *,
    db: str | os.PathLike[str] | None = None,
    server: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    collector: bool = False,
    lake: str | os.PathLike[str] | None = None,
) -> int:
    """Run the dashboard until interrupted; returns Streamlit's exit code.

    ``port`` None serves on the default port when it is free, else on the next free one
    (see :func:`choose_port`).

    ``db`` is read directly (read-only), or through the collector that owns it; with
    ``collector=True`` one is started for it first when none owns it (stopped on exit), so
    agents can keep writing to the file while the dashboard reads. ``server`` names a
    collector by URL instead, ``lake`` a Parquet lake folder (read-only).
    """
    env = dict(os.environ)
    owned: subprocess.Popen[bytes] | None = None
    env.pop(ENV_LAKE, None)
    if lake:
        env[ENV_LAKE] = str(lake)
        env.pop(ENV_DB, None)
        env.pop(ENV_SERVER, None)
    elif server:
        env[ENV_SERVER] = server
        env.pop(ENV_DB, None)
    else:
        path = resolve_db(db)
        env[ENV_DB] = path
        if collector:
            owned = start_collector(path)
    children = [owned] if owned is not None else []
    # A SIGTERM to this process (a supervisor, a test) must stop Streamlit and the collector
    # too, not orphan them: turn it into the same path as Ctrl+C.
    previous = _on_sigterm(_interrupt)
    try:
        chosen = choose_port(port, host)
        app = subprocess.Popen(streamlit_command(port=chosen, host=host), env=env)
        children.insert(0, app)
        return app.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            _stop(child)
        _on_sigterm(previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (main thread only); returns the previous one."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
