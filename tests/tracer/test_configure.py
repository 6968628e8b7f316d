"""configure(): safe twice, OTEL_* variables, an existing provider, flush on exit, bad db paths.

The OpenTelemetry global provider can be set once per process, so cases that need a fresh
process (an application provider, environment variables, exit and kill) run in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import semtrace
from semtrace.exceptions import (
    ConfigurationError,
    DatabaseLockedError,
    NotADatabaseError,
    SemtraceWarning,
)
from semtrace.tracer.setup import STATE


def run_py(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run Python code in a fresh interpreter; its stdout (fails the test on a non-zero exit)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def reset() -> Iterator[None]:
    """Leave semtrace unconfigured after a test that configures it itself."""
    yield
    semtrace.shutdown()
    STATE.settings = None


@semtrace.tool("ping")
def ping() -> str:
    return "pong"


# -- configure twice --------------------------------------------------------------------------


def test_configure_twice_same_db_no_duplicates(db_path: Path, reset: None) -> None:
    """Calling configure() twice leaves one exporter: each span is stored once."""
    semtrace.configure(service_name="svc", db=db_path)
    semtrace.configure(service_name="svc", db=db_path)
    ping()
    semtrace.shutdown()
    assert read(db_path, "SELECT name, count(*) FROM spans GROUP BY name") == [
        ("execute_tool ping", 1)
    ]


def test_reconfigure_moves_to_the_new_db(tmp_path: Path, reset: None) -> None:
    """After configure() with another db, spans go only to the new file, under the new name."""
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    semtrace.configure(service_name="one", db=first)
    ping()
    semtrace.configure(service_name="two", db=second)
    ping()
    ping()
    semtrace.shutdown()
    assert read(first, "SELECT service_name, count(*) FROM spans GROUP BY 1") == [("one", 1)]
    assert read(second, "SELECT service_name, count(*) FROM spans GROUP BY 1") == [("two", 2)]


def test_configure_returns_settings(db_path: Path, reset: None) -> None:
    """configure() returns the settings it settled on, the db as an absolute path."""
    settings = semtrace.configure(service_name="svc", db=db_path)
    assert settings.service_name == "svc"
    assert settings.db == str(db_path.resolve())
    assert settings.endpoint is None


def test_bad_settings_raise(db_path: Path) -> None:
    """Impossible settings raise ConfigurationError saying what is allowed."""
    with pytest.raises(ConfigurationError, match="batch_interval_s must be > 0"):
        semtrace.configure(db=db_path, batch_interval_s=0)
    with pytest.raises(ConfigurationError, match="is a directory"):
        semtrace.configure(db=db_path.parent)


# -- environment and an existing provider -----------------------------------------------------


def test_otel_service_name_and_resource_attributes(db_path: Path) -> None:
    """OTEL_SERVICE_NAME names the service; OTEL_RESOURCE_ATTRIBUTES land in the resource."""
    run_py(
        f"""
        import semtrace
        semtrace.configure(db={str(db_path)!r})
        with semtrace.agent("a"):
            pass
        semtrace.shutdown()
        """,
        env={
            "OTEL_SERVICE_NAME": "billing",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging,team=agents",
        },
    )
    ((service, resource),) = read(db_path, "SELECT service_name, resource FROM spans")
    res = json.loads(resource)
    assert service == "billing"
    assert res["service.name"] == "billing"
    assert res["deployment.environment"] == "staging"
    assert res["team"] == "agents"


def test_service_name_argument_beats_environment(db_path: Path) -> None:
    """An explicit service_name wins over OTEL_SERVICE_NAME; service.name in
    OTEL_RESOURCE_ATTRIBUTES is used when nothing else names the service."""
    other = db_path.with_name("other.duckdb")
    run_py(
        f"""
        import os, semtrace
        semtrace.configure(service_name="explicit", db={str(db_path)!r})
        with semtrace.agent("a"):
            pass
        del os.environ["OTEL_SERVICE_NAME"]
        semtrace.configure(db={str(other)!r})
        with semtrace.agent("a"):
            pass
        semtrace.shutdown()
        """,
        env={
            "OTEL_SERVICE_NAME": "from-env",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-resource",
        },
    )
    assert read(db_path, "SELECT service_name FROM spans") == [("explicit",)]
    assert read(other, "SELECT service_name FROM spans") == [("from-resource",)]


def test_attaches_to_existing_sdk_provider(db_path: Path) -> None:
    """An application's own SDK TracerProvider is kept: semtrace adds its processor to it, so
    the app's exporter and the DuckDB file both get every span, under the app's resource."""
    out = run_py(
        f"""
        import json, semtrace
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        app_exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({{"service.name": "app"}}))
        provider.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(provider)

        semtrace.configure(db={str(db_path)!r})
        semtrace.configure(db={str(db_path)!r})  # twice: still one semtrace processor

        @semtrace.agent("planner")
        def plan():
            with trace.get_tracer("app").start_as_current_span("app work"):
                pass

        plan()
        semtrace.shutdown()
        print(json.dumps({{
            "same_provider": trace.get_tracer_provider() is provider,
            "app_spans": sorted(s.name for s in app_exporter.get_finished_spans()),
        }}))
        """
    )
    result = json.loads(out)
    assert result == {
        "same_provider": True,
        "app_spans": ["app work", "invoke_agent planner"],
    }
    rows = read(
        db_path, "SELECT name, service_name, agent_name, scope_name FROM spans ORDER BY name"
    )
    assert rows == [
        ("app work", "app", "planner", "app"),  # a foreign span still gets the agent's name
        ("invoke_agent planner", "app", "planner", "semtrace"),
    ]


# -- flush on exit ----------------------------------------------------------------------------


def test_spans_written_at_exit_without_shutdown(db_path: Path) -> None:
    """A program that ends without shutdown() still has its queued spans and logs written."""
    run_py(
        f"""
        import semtrace
        semtrace.configure(db={str(db_path)!r}, batch_interval_s=60)  # the timer never fires
        for i in range(3):
            with semtrace.tool(f"t{{i}}"):
                semtrace.get_logger(agent="a").info("step done", step=i)
        """
    )
    assert read(db_path, "SELECT count(*) FROM logs WHERE message LIKE '%step done%'") == [(3,)]
    assert read(db_path, "SELECT name FROM spans ORDER BY name") == [
        ("execute_tool t0",),
        ("execute_tool t1",),
        ("execute_tool t2",),
    ]


def test_kill_9_loses_at_most_the_batch_in_flight(db_path: Path) -> None:
    """After kill -9 the file opens cleanly and holds every batch written before the kill."""
    code = f"""
        import sys, time, semtrace
        semtrace.configure(db={str(db_path)!r}, batch_interval_s=60)
        with semtrace.tool("written"):
            pass
        semtrace.force_flush()
        with semtrace.tool("in flight"):
            pass
        print("ready", flush=True)
        time.sleep(60)
        """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    names = {n for (n,) in read(db_path, "SELECT name FROM spans")}
    assert "execute_tool written" in names
    assert names <= {"execute_tool written", "execute_tool in flight"}


# -- bad db paths -----------------------------------------------------------------------------


def test_missing_folder_is_created(tmp_path: Path, reset: None) -> None:
    """A db path in folders that do not exist yet is created, folders and file."""
    db = tmp_path / "a" / "b" / "trace.duckdb"
    semtrace.configure(db=db)
    ping()
    semtrace.shutdown()
    assert read(db, "SELECT name FROM spans") == [("execute_tool ping",)]


@pytest.mark.parametrize("content", [b"name,age\nalice,30\nbob,41\n", b"tiny"])
def test_not_a_duckdb_file(tmp_path: Path, content: bytes, reset: None) -> None:
    """A db path holding another kind of file raises NotADatabaseError naming the file."""
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    with pytest.raises(NotADatabaseError, match=r"people\.csv.*not a DuckDB database file"):
        semtrace.configure(db=path)
    with pytest.raises(NotADatabaseError, match=r"people\.csv"):
        semtrace.connect(path)
    assert path.read_bytes() == content  # left untouched


@pytest.fixture
def locked_db(db_path: Path) -> Iterator[tuple[Path, int]]:
    """A db file held open for writing by another process (its pid alongside)."""
    code = f"""
        import sys
        from semtrace.store.database import Store
        store = Store({str(db_path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        store.close()
        """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield db_path, proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)


def test_file_locked_by_another_process(
    locked_db: tuple[Path, int], reset: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """configure() on a file another process writes warns, naming that process and how to
    share the file in owner mode (the agent runs on, spooling); connect() raises
    DatabaseLockedError saying the same."""
    path, pid = locked_db
    with pytest.warns(SemtraceWarning) as record:
        semtrace.configure(db=path)
    message = str(record[0].message)
    assert f"process {pid}" in message
    assert "owner mode" in message
    assert "spooled" in message
    with pytest.raises(DatabaseLockedError, match=f"process {pid}"):
        semtrace.connect(path)


def test_connect_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    """connect() on a path with no file says how to create one."""
    with pytest.raises(FileNotFoundError, match="`semtrace demo` writes semtrace-demo"):
        semtrace.connect(tmp_path / "nothing.duckdb")


def test_connect_sees_spans_of_this_process(con: Callable[[], Any]) -> None:
    """connect() in the writing process flushes first, so a span just ended is visible."""
    ping()
    assert con().sql("SELECT tool_name FROM tool_calls").fetchall() == [("ping",)]


def test_mode_from_argument_then_environment(
    db_path: Path, reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mode= wins over SEMTRACE_MODE, which is read when no argument is given, in any case."""
    monkeypatch.setenv("SEMTRACE_MODE", "Embedded")
    assert semtrace.configure(db=db_path).mode == "embedded"
    monkeypatch.setenv("SEMTRACE_MODE", "owner")
    assert semtrace.configure(db=db_path, mode="embedded").mode == "embedded"


def test_unknown_mode_says_which_modes_exist(
    db_path: Path, reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mode that does not exist is a configuration error naming both modes, from either
    the argument or the environment."""
    with pytest.raises(ConfigurationError, match=r"'owner'.*'embedded'"):
        semtrace.configure(db=db_path, mode="shared")
    monkeypatch.setenv("SEMTRACE_MODE", "sometimes")
    with pytest.raises(ConfigurationError, match="SEMTRACE_MODE='sometimes'"):
        semtrace.configure(db=db_path)
