"""One count of failures per trace: the traces view's ``failure_count`` is what the failures
view counts for that trace (a log sentence's failure included, the ERROR spans a failure took
down not), in the view, in the recent-traces list and for a few traces picked by id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import semtrace
from semtrace.store import queries
from semtrace.store.views import traces_select
from semtrace.tracer.setup import STATE


def write_runs(db_path: Path) -> None:
    """Four runs written with the real tracer: a failure told by a log sentence alone
    (intake), one that propagated up through three spans (procurement), one caught and told
    of by the agent (compliance), and one that went well (ok)."""
    semtrace.configure(service_name="invoices", db=db_path, batch_interval_s=0.05)
    log = semtrace.get_logger(agent="intake")

    @semtrace.tool("read_invoice")
    def read_invoice() -> str:
        # The step goes on: nothing raises, only the sentence tells of the failure.
        log.failure(
            action="read invoice INV-3",
            cause="its PDF was password-protected",
            impact="it was set aside for a person",
        )
        return "set aside"

    @semtrace.agent("intake")
    def intake() -> str:
        return read_invoice()

    @semtrace.tool("lookup_vendor")
    def lookup_vendor() -> str:
        raise LookupError("vendor V7 has no Last-updated value")

    @semtrace.tool("match_invoice")
    def match_invoice() -> str:
        return lookup_vendor()

    @semtrace.agent("procurement")
    def procurement() -> str:
        return match_invoice()

    @semtrace.agent("compliance")
    def compliance() -> str:
        try:
            return lookup_vendor()
        except LookupError:
            log.failure(
                action="check the vendor",
                cause="its record could not be read",
                impact="the invoice waits for a person",
            )
            return "held"

    @semtrace.agent("ok")
    def fine() -> str:
        return "done"

    try:
        intake()
        with pytest.raises(LookupError):
            procurement()
        compliance()
        fine()
    finally:
        semtrace.shutdown()
        STATE.settings = None


@pytest.fixture
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the runs of :func:`write_runs`."""
    write_runs(db_path)
    c = semtrace.connect(db_path)
    yield c
    c.close()


def _by_root(con: duckdb.DuckDBPyConnection, table: Any) -> dict[str, dict[str, Any]]:
    rows = table.to_pylist() if hasattr(table, "to_pylist") else table
    roots = dict(con.sql("SELECT trace_id, root_name FROM traces").fetchall())
    return {roots[r["trace_id"]]: r for r in rows}


def test_failure_count_is_the_failures_views_count(con: duckdb.DuckDBPyConnection) -> None:
    """Per trace, failure_count equals count(*) from failures: 1 for the log sentence's
    failure (no ERROR span), 1 for the failure that took down 3 spans, 1 for the caught
    failure whose agent told of it (its sentence is the failure's impact), 0 for the run
    that went well; a trace with a failure has status ERROR, the log sentence's too."""
    got = con.sql(
        """SELECT t.root_name, t.error_count, t.failure_count,
                  (SELECT count(*) FROM failures f WHERE f.trace_id = t.trace_id) AS counted,
                  t.status
           FROM traces t ORDER BY t.root_name"""
    ).fetchall()
    assert got == [
        ("invoke_agent compliance", 1, 1, 1, "ERROR"),
        ("invoke_agent intake", 0, 1, 1, "ERROR"),
        ("invoke_agent ok", 0, 0, 0, "OK"),
        ("invoke_agent procurement", 3, 1, 1, "ERROR"),
    ]
    assert queries.failure_count(con) == 3
    # The Failed filter takes the traces with a failure, the log sentence's included.
    failed = _by_root(con, queries.recent_traces(con, status="ERROR", limit=10))
    assert sorted(failed) == [
        "invoke_agent compliance",
        "invoke_agent intake",
        "invoke_agent procurement",
    ]
    assert sorted(_by_root(con, queries.recent_traces(con, status="OK", limit=10))) == [
        "invoke_agent ok"
    ]


def test_recent_traces_and_picked_traces_count_the_same(con: duckdb.DuckDBPyConnection) -> None:
    """The recent-traces list (aggregated over its chosen traces only) and the traces view
    over a few traces named by id give each trace the view's failure_count."""
    view = _by_root(con, queries.arrow(con, "SELECT * FROM traces"))
    recent = _by_root(con, queries.recent_traces(con, limit=10))
    listed = _by_root(con, queries.list_traces(con, limit=10))
    picked_ids = [view["invoke_agent intake"]["trace_id"], view["invoke_agent ok"]["trace_id"]]
    picked = _by_root(
        con,
        queries.arrow(con, traces_select("WHERE list_contains(?, trace_id)"), [picked_ids]),
    )
    counts = {root: row["failure_count"] for root, row in view.items()}
    assert counts == {
        "invoke_agent compliance": 1,
        "invoke_agent intake": 1,
        "invoke_agent ok": 0,
        "invoke_agent procurement": 1,
    }
    assert {root: row["failure_count"] for root, row in recent.items()} == counts
    assert {root: row["failure_count"] for root, row in listed.items()} == counts
    assert picked == {root: view[root] for root in ("invoke_agent intake", "invoke_agent ok")}
    one = view["invoke_agent intake"]["trace_id"]
    assert queries.arrow(con, "SELECT * FROM traces WHERE trace_id = ?", [one]).to_pylist() == [
        view["invoke_agent intake"]
    ]
