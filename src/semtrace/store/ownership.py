"""Who owns a database file (the one-writer rule), and starting an owner on demand.

DuckDB lets one process write a file. The process that owns it (``semtrace serve``, started
by hand or on demand) writes ``X.collector.json`` beside ``X``: its URL, pid, start time and
a per-file random token, readable by the same user only (mode 0600). Every other process
reads it and talks to the owner instead of opening the file; an announcement whose process is
gone is stale: it is ignored and removed.

:func:`ensure_owner` finds the live owner of a file or starts one: a detached ``semtrace
serve --on-demand`` on a free loopback port, its log (its stdout and stderr) written beside
the database and rotated while it runs (:func:`watch_owner_log`). Racing
starters take a lock file (``fcntl.flock``) around the check and the start, so eight
processes configuring the same file at once end up with one owner; DuckDB's own file lock is
the final arbiter (a second owner cannot open the file and exits).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from semtrace.config import DEFAULT_OWNER_LOG_MAX_BYTES, ENV_OWNER_LOG_MAX_BYTES
from semtrace.store._paths import resolve_path
from semtrace.store._process import pid_alive

__all__ = [
    "ANNOUNCE_SUFFIX",
    "LOG_SUFFIX",
    "Announcement",
    "OwnerUnavailable",
    "announcement_path",
    "ensure_owner",
    "owner_lock",
    "owner_log_max_bytes",
    "owner_log_path",
    "pid_alive",
    "read_announcement",
    "remove_announcement",
    "rotate_owner_log",
    "stop_owner",
    "token_for_url",
    "watch_owner_log",
    "write_announcement",
]

ANNOUNCE_SUFFIX = ".collector.json"
LOCK_SUFFIX = ".owner.lock"
LOG_SUFFIX = ".owner.log"
_LOG_CHECK_EVERY_S = 1.0  # how often a running owner looks at its log's size

# Tokens of the owners this process found, by URL: clients given only a URL (a diagnose
# run, a records writer) send the right token without carrying it around.
_tokens: dict[str, str] = {}
_tokens_lock = threading.Lock()


class OwnerUnavailable(Exception):
    """No owner could be found or started for a file (the message says why)."""


@dataclass(frozen=True)
class Announcement:
    """Who owns a database file: its base URL, process id, start time and token."""

    url: str
    pid: int
    db: str
    token: str | None = None
    started_at: float = 0.0
    on_demand: bool = False  # started by ensure_owner (exits when idle), not by hand

    @property
    def token_required(self) -> bool:
        return self.token is not None


def announcement_path(db: str | os.PathLike[str]) -> Path:
    """Where the announcement for database ``db`` lives."""
    return Path(resolve_path(db) + ANNOUNCE_SUFFIX)


def owner_log_path(db: str | os.PathLike[str]) -> Path:
    """Where an owner started on demand writes its log (beside the database)."""
    return Path(resolve_path(db) + LOG_SUFFIX)


def write_announcement(ann: Announcement) -> Path:
    """Write the announcement atomically (readers never see half a file), mode 0600."""
    path = announcement_path(ann.db)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)  # whatever the umask
        fh.write(json.dumps(asdict(ann)))
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
        token = data.get("token")
        return Announcement(
            url=str(data["url"]),
            pid=int(data["pid"]),
            db=str(data.get("db", "")),
            token=str(token) if token else None,
            started_at=float(data.get("started_at", 0.0)),
            on_demand=bool(data.get("on_demand", False)),
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
    """The live owner of ``db``, or None; a stale announcement (its pid dead, or nothing
    listening at its URL) is removed."""
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
    if ann.token is not None:
        with _tokens_lock:
            _tokens[ann.url.rstrip("/")] = ann.token
    return ann


def token_for_url(url: str) -> str | None:
    """The token of the owner at ``url``, if this process read its announcement."""
    with _tokens_lock:
        return _tokens.get(url.rstrip("/"))


@contextlib.contextmanager
def owner_lock(db: str | os.PathLike[str], timeout_s: float = 60.0) -> Iterator[None]:
    """Hold the file's owner lock (an exclusive ``flock`` on ``X.owner.lock``)."""
    path = Path(resolve_path(db) + LOCK_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OwnerUnavailable(
                        f"another process held {path} for over {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def owner_log_max_bytes() -> int:
    """The size past which an owner's log is rotated: ``SEMTRACE_OWNER_LOG_MAX_BYTES``, else
    5 MiB."""
    try:
        return max(1, int(os.environ.get(ENV_OWNER_LOG_MAX_BYTES) or DEFAULT_OWNER_LOG_MAX_BYTES))
    except ValueError:
        return DEFAULT_OWNER_LOG_MAX_BYTES


def _rotate(log: Path, max_bytes: int) -> bool:
    """Move ``log`` to ``log.1`` (replacing the last one) if it is past ``max_bytes``."""
    try:
        if log.stat().st_size <= max_bytes:
            return False
        os.replace(log, log.with_name(log.name + ".1"))
    except OSError:
        return False
    return True


def _is_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), path.stat()
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def rotate_owner_log(log: Path, max_bytes: int) -> bool:
    """In a process whose stderr (and stdout) is ``log``, as an owner started on demand:
    once ``log`` is past ``max_bytes``, move it to ``log.1`` and point stderr and stdout at a
    new ``log``, so everything the owner writes from then on (its messages, the stacks
    ``kill -USR1`` dumps, a crash's traceback) lands in the new file. True if it rotated."""
    if not _is_file(2, log):  # a terminal, or a log rotated by someone else: leave it be
        return False
    stdout_too = _is_file(1, log)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if not _rotate(log, max_bytes):
        return False
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 2)
        if stdout_too:
            os.dup2(fd, 1)
    finally:
        os.close(fd)
    return True


def watch_owner_log(db: str | os.PathLike[str], every_s: float = _LOG_CHECK_EVERY_S) -> None:
    """Keep the log of this owner (started on demand) rotated while it runs: a daemon
    thread checks its size every ``every_s`` seconds (see :func:`rotate_owner_log`)."""
    log, max_bytes = owner_log_path(db), owner_log_max_bytes()

    def watch() -> None:
        while True:
            time.sleep(every_s)
            rotate_owner_log(log, max_bytes)

    threading.Thread(target=watch, name="semtrace-owner-log", daemon=True).start()


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _start(db: str, idle_timeout_s: float | None) -> subprocess.Popen[bytes]:
    log = owner_log_path(db)
    _rotate(log, owner_log_max_bytes())
    command = [sys.executable, "-m", "semtrace.cli", "serve", "--db", db, "--on-demand"]
    if idle_timeout_s is not None:
        command += ["--idle-timeout", str(idle_timeout_s)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # not stopped by the starter's Ctrl+C or exit
            close_fds=True,
        )
    # Reap it when it exits (idle), so it does not linger as a zombie of this process.
    threading.Thread(target=proc.wait, name="semtrace-owner-reaper", daemon=True).start()
    return proc


def ensure_owner(
    db: str | os.PathLike[str],
    *,
    idle_timeout_s: float | None = None,
    start_timeout_s: float = 30.0,
) -> Announcement:
    """The live owner of ``db``, started (detached) if there is none.

    Raises :class:`OwnerUnavailable` when none could be started, with the reason from the
    owner's log (another process holds the file in embedded mode, say)."""
    path = resolve_path(db)
    ann = read_announcement(path)
    if ann is not None:
        return ann
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with owner_lock(path):
        ann = read_announcement(path)  # a racing starter may have won while we waited
        if ann is not None:
            return ann
        proc = _start(path, idle_timeout_s)
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            ann = read_announcement(path)
            if ann is not None:
                return ann
            if proc.poll() is not None:
                why = _log_tail(owner_log_path(path))
                raise OwnerUnavailable(
                    f"the owner of {path} exited at start ({why or 'no log'}); "
                    f"see {owner_log_path(path)}"
                )
            time.sleep(0.02)
        raise OwnerUnavailable(
            f"the owner of {path} did not announce itself within {start_timeout_s:.0f} s; "
            f"see {owner_log_path(path)}"
        )


def stop_owner(db: str | os.PathLike[str], timeout_s: float = 30.0) -> int | None:
    """Stop the owner of ``db`` cleanly (SIGTERM: it commits what it accepted, checkpoints
    and removes its announcement); returns its pid, or None when nothing owned the file."""
    ann = read_announcement(db)
    if ann is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(ann.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(ann.pid):
        if time.monotonic() > deadline:
            raise OwnerUnavailable(
                f"the owner of {resolve_path(db)} (pid {ann.pid}) did not stop within "
                f"{timeout_s:.0f} s; `kill -USR1 {ann.pid}` writes its threads' stacks to its log"
            )
        time.sleep(0.05)
    return ann.pid
