"""The hash in redaction markers is keyed by a random secret of the database: nobody can rebuild
a marker from a list of candidate emails, yet every writer of the file makes the same marker."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

import semtrace
from semtrace import redaction
from semtrace.redaction import Redactor, database_key, key_path
from semtrace.store.ownership import stop_owner

EMAIL = "carol.secret-owner@example.org"
CANDIDATES = ["alice@example.org", EMAIL, "bob@example.org"]
MARKER = re.compile(r"\[REDACTED:email:([0-9a-f]{6})\]")


def _public_salt_guesses(candidate: str) -> set[str]:
    """What an attacker computes with the old public default salt ``semtrace``."""
    return {
        hashlib.sha256(("semtrace\0" + candidate).encode()).hexdigest()[:6],
        hmac.digest(b"semtrace", candidate.encode(), "sha256")[:3].hex(),
    }


def _write_in_subprocess(db: Path, text: str, mode: str = "embedded") -> None:
    script = textwrap.dedent(
        f"""
        import semtrace
        semtrace.configure(service_name="writer", db={str(db)!r})
        semtrace.get_logger(agent="billing").info({text!r})
        semtrace.shutdown()
        """
    )
    env = {**os.environ, "SEMTRACE_MODE": mode}
    env.pop("SEMTRACE_REDACT_SALT", None)
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)


def _markers(db: Path, sql: str) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [m for (text,) in con.execute(sql).fetchall() for m in MARKER.findall(text or "")]
    finally:
        con.close()


def test_a_stored_marker_cannot_be_matched_against_candidate_emails(
    configured: Path, con: Callable[[], Any]
) -> None:
    """With the old public default salt anyone could hash candidate emails and find the one
    behind a marker; with the database's random key none of the guesses matches."""
    semtrace.get_logger(agent="billing").info(f"mailed {EMAIL}")
    (message,) = [r[0] for r in con().execute("select message from logs").fetchall()]
    (digest,) = MARKER.findall(message)
    guesses = set().union(*(_public_salt_guesses(c) for c in CANDIDATES))
    assert digest not in guesses
    # ...while the holder of the key does make it (it is the key that makes the marker).
    assert Redactor(salt=database_key(configured)).marker("email", EMAIL) in message


def test_the_key_file_is_made_once_owner_only_and_never_stored_in_the_telemetry(
    configured: Path, con: Callable[[], Any]
) -> None:
    """configure() creates the key next to the file with mode 0600; it is read back unchanged,
    and its text is in no column of any table nor in the database's bytes."""
    semtrace.get_logger(agent="billing").info(f"mailed {EMAIL}")
    connection = con()
    path = key_path(configured)
    assert path.name == configured.name + ".redact-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_hex = path.read_text().strip()
    assert database_key(configured) == bytes.fromhex(key_hex)
    columns = connection.execute(
        "select table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') and table_schema = 'main'"
    ).fetchall()
    assert columns
    for table, column in columns:
        hits = connection.execute(
            f'select count(*) from "{table}" where contains(lower("{column}"::varchar), ?)',
            [key_hex[:16]],
        ).fetchone()
        assert hits == (0,), (table, column)
    semtrace.shutdown()
    data = configured.read_bytes()
    assert key_hex.encode() not in data and bytes.fromhex(key_hex) not in data


@pytest.mark.parametrize("mode", ["embedded", "owner"])
def test_processes_writing_the_same_file_make_the_same_marker(tmp_path: Path, mode: str) -> None:
    """Two processes writing one database, one after the other (in the file directly, or
    through its owner process), group the same email under one marker; a process writing
    another database makes a different one."""
    db = tmp_path / "shared.duckdb"
    other = tmp_path / "other.duckdb"
    try:
        _write_in_subprocess(db, f"first write to {EMAIL}", mode)
        _write_in_subprocess(db, f"second write to {EMAIL}", mode)
        _write_in_subprocess(other, f"other file, {EMAIL}", mode)
    finally:
        stop_owner(db)
        stop_owner(other)
    shared = _markers(db, "select message from logs order by time")
    (elsewhere,) = _markers(other, "select message from logs")
    assert len(shared) == 2 and shared[0] == shared[1]
    assert elsewhere != shared[0]


def test_concurrent_first_writers_agree_on_one_key(tmp_path: Path) -> None:
    """Processes that find no key at the same moment all end up with the one that was made."""
    db = tmp_path / "race.duckdb"
    code = (
        "import sys; from semtrace.redaction import database_key; "
        "print(database_key(sys.argv[1]).hex())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(keys) == 1 and keys == {key_path(db).read_text().strip()}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_an_explicit_shared_secret_wins_over_the_file_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEMTRACE_REDACT_SALT (a secret the user shares across machines) keys the hash."""
    monkeypatch.setenv(redaction.ENV_REDACT_SALT, "fleet-secret")
    redaction.configure_redaction()
    try:
        redaction.use_database(tmp_path / "x.duckdb")
        assert redaction.redact_text(EMAIL) == Redactor(salt="fleet-secret").marker("email", EMAIL)
    finally:
        monkeypatch.delenv(redaction.ENV_REDACT_SALT)
        redaction.configure_redaction()
