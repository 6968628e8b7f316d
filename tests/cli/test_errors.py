"""CLI commands answer bad input with an error message and exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from semtrace.cli import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", ["serve", "dashboard", "demo"])
def test_out_of_range_port_is_refused_before_anything_is_created(
    command: str, tmp_path: Path
) -> None:
    """A port above 65535 is a usage error and no database file is created."""
    path = tmp_path / "app.duckdb"
    code, out, err = run(command, "--db", str(path), "--port", "99999")
    assert code == 2
    assert "--port" in err and "65535" in err and "Traceback" not in out + err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["diagnose"],
        ["export", "--out", "exported"],
        ["dashboard"],
        ["doctor"],
        ["traces"],
    ],
)
def test_a_folder_as_database_is_an_error_message(args: list[str], tmp_path: Path) -> None:
    """Commands given a folder as --db print 'cannot open <folder>: ...' and exit 1."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, out, err = run(*args, "--db", str(folder))
    assert code == 1, out + err
    assert "cannot open" in err and "folder" in err
    assert "Traceback" not in out + err


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database the tracer wrote one trace into."""
    import semtrace
    from semtrace.testing import traced_db

    path = tmp_path_factory.mktemp("cli-errors") / "semtrace.duckdb"
    with traced_db(path, service_name="billing"), semtrace.agent("procurement"):
        pass
    return path


def test_export_under_a_file_is_an_error_message(small_db: Path, tmp_path: Path) -> None:
    """export --out below a regular file says it cannot export there, exit 1, no traceback."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    code, out, err = run("export", "--db", str(small_db), "--out", str(a_file / "x"))
    assert code == 1
    assert f"cannot export to {a_file / 'x'}: Not a directory" in err.replace("\n", "")
    assert "Traceback" not in out + err


def test_import_into_a_database_under_a_file_is_an_error_message(
    small_db: Path, tmp_path: Path
) -> None:
    """import into a --db path below a regular file names that file, exit 1, no traceback."""
    exported = tmp_path / "exported"
    assert run("export", "--db", str(small_db), "--out", str(exported))[0] == 0
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    code, out, err = run("import", str(exported), "--db", str(a_file / "x.duckdb"))
    assert code == 1, out + err
    assert "cannot import" in err and "file.txt" in err.replace("\n", "")
    assert "Traceback" not in out + err


def test_export_and_import_in_a_pipe_print_no_progress(small_db: Path, tmp_path: Path) -> None:
    """Outside a terminal export and import write nothing to stderr (no progress bar line)."""
    code, _, err = run("export", "--db", str(small_db), "--out", str(tmp_path / "out"))
    assert (code, err) == (0, "")
    code, _, err = run("import", str(tmp_path / "out"), "--db", str(tmp_path / "copy.duckdb"))
    assert (code, err) == (0, "")


def test_dashboard_on_all_interfaces_warns(tmp_path: Path) -> None:
    """dashboard --host 0.0.0.0 warns that anyone reaching the port reads all telemetry."""
    # A database in a folder that does not exist fails after the warning: Streamlit never
    # starts (a missing file alone would be waited for).
    missing = str(tmp_path / "no" / "none.duckdb")
    code, _, err = run("dashboard", "--db", missing, "--host", "0.0.0.0")
    assert code == 1
    assert "warning:" in err and "read all telemetry" in err.replace("\n", " ")


def test_dashboard_public_flag_silences_the_warning(tmp_path: Path) -> None:
    """--public (an explicit choice) and loopback hosts print no warning."""
    missing = str(tmp_path / "no" / "none.duckdb")
    for extra in (["--host", "0.0.0.0", "--public"], ["--host", "127.0.0.1"]):
        code, _, err = run("dashboard", "--db", missing, *extra)
        assert code == 1
        assert "warning:" not in err and "does not exist" in err


# Not the dashboard: on a file that does not exist yet it waits for the first spans.
@pytest.mark.parametrize("command", ["diagnose", "traces", "export"])
def test_missing_database_suggests_the_demo_file_not_the_users_path(
    command: str, tmp_path: Path
) -> None:
    """A missing --db suggests `semtrace demo` (its own file), never demo data in the user's
    path."""
    path = tmp_path / "app.duckdb"
    extra = ["--out", str(tmp_path / "out")] if command == "export" else []
    code, _, err = run(command, "--db", str(path), *extra)
    assert code == 1
    message = " ".join(err.split())
    assert f"no semtrace database at {path}" in message
    assert "`semtrace demo` writes semtrace-demo.duckdb" in message
    assert "semtrace sql --db semtrace-demo.duckdb" in message
    assert "demo --db" not in message
    assert not path.exists()


def test_sql_write_says_it_is_read_only_on_purpose(small_db: Path) -> None:
    """A DELETE through `semtrace sql` is refused with a hint that sql is read-only by design."""
    code, out, err = run("sql", "--db", str(small_db), "delete from spans")
    assert code == 1
    message = " ".join(err.split())
    assert "read-only" in message
    assert "hint: `semtrace sql` is read-only on purpose" in message and "/v1/query" in message
    assert "Traceback" not in out + err


def test_sql_syntax_error_has_no_read_only_hint(small_db: Path) -> None:
    """Other query errors do not get the read-only hint."""
    code, _, err = run("sql", "--db", str(small_db), "selec 1")
    assert code == 1 and "hint:" not in err
