"""What the MCP tools answer, called in-process: bounded text, whole trees, ids to drill down."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

import semtrace
from semtrace.collector.server import Collector, CollectorConfig
from semtrace.mcp_server._text import table_text
from semtrace.mcp_server.tools import RELATIONS, TelemetryTools, ToolInputError
from semtrace.store.queries import list_relations
from tests.mcp_server.conftest import SENTENCE_PART, Telemetry


def test_a_long_table_stops_at_its_budget_and_says_what_it_left_out() -> None:
    """Rows past the character budget are counted, not printed; long cells are cut."""
    table = pa.table({"n": list(range(100)), "text": ["x" * 500] * 100})
    text = table_text(table, max_chars=2_000)
    lines = text.splitlines()
    assert lines[0] == "n | text"
    assert lines[1] == "0 | " + "x" * 159 + "…"
    assert len(text) <= 2_000 + 200
    assert lines[-1] == (
        f"… {100 - (len(lines) - 2)} more rows not shown "
        "(narrow the query, select fewer columns or lower the limit)"
    )


def test_times_and_numbers_are_short() -> None:
    """Times print to the millisecond, floats to four digits, lists as compact JSON."""
    table = pa.table(
        {
            "t": [datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)],
            "x": [3.14159265],
            "agents": [["a", "b"]],
            "none": pa.array([None], pa.string()),
        }
    )
    assert table_text(table).splitlines()[1] == '2026-03-01 12:30:05.123 | 3.142 | ["a","b"] | '


def test_the_trace_tree_shows_spans_under_their_parents_with_sentences(
    telemetry: Telemetry,
) -> None:
    """The failed trace is one tree: the agent, its failing tool (✗ with the error) and the
    failure sentence logged inside the agent."""
    text = TelemetryTools(telemetry.db).get_trace(telemetry.failed_trace)
    lines = text.splitlines()
    # the tool's failure, caught by the agent: its log.failure tells of it, not of another
    head = f"trace {telemetry.failed_trace}: 2 spans, 1 failure (1 ERROR span), "
    assert lines[0].startswith(head)
    assert lines[2].startswith("invoke_agent procurement [procurement] ")
    assert lines[3].startswith("  > ERROR: The procurement agent failed to retrieve the vendor ID")
    assert SENTENCE_PART in lines[3]
    assert lines[4].startswith("  ✗ execute_tool lookup_vendor_id [procurement] ")
    assert f"({telemetry.failed_span}) ERROR: " in lines[4]
    assert "so the procurement agent went on without its result" in lines[4]  # the impact
    assert len(lines) == 5  # the failure log adding the impact is folded into the ✗ line


def test_max_spans_cuts_the_tree_and_says_how_to_see_the_rest(telemetry: Telemetry) -> None:
    """With max_spans=1 only the root is shown, then how many spans were left out."""
    lines = TelemetryTools(telemetry.db).get_trace(telemetry.failed_trace, 1).splitlines()
    assert lines[-1].startswith("… 1 more spans not shown (raise max_spans")


def test_unknown_ids_and_bad_filters_say_what_to_pass(telemetry: Telemetry) -> None:
    """An unknown trace, a bad duration and an unknown relation raise ToolInputError."""
    tools = TelemetryTools(telemetry.db)
    with pytest.raises(ToolInputError, match="list_traces"):
        tools.get_trace("ffff")
    with pytest.raises(ToolInputError, match="not a duration"):
        tools.list_failures(since="yesterday-ish")
    with pytest.raises(ToolInputError, match="the tables and views are: spans"):
        tools.describe_schema("nowhere")


def test_a_log_sentence_failure_counts_in_list_traces_and_get_trace(
    telemetry: Telemetry,
) -> None:
    """Intake's failure is told by a log sentence alone (its span did not error): the trace
    lists 1 failure, as the failures view counts it, with an OK status and no ERROR span."""
    con = semtrace.connect(telemetry.db)
    try:
        ((intake, counted),) = con.sql(
            "SELECT t.trace_id, (SELECT count(*) FROM failures f WHERE f.trace_id = t.trace_id) "
            "FROM traces t WHERE root_name = 'invoke_agent intake'"
        ).fetchall()
    finally:
        con.close()
    tools = TelemetryTools(telemetry.db)
    lines = tools.list_traces().splitlines()
    header = lines[1].split(" | ")  # under the line that counts them
    row = dict(
        zip(header, next(r for r in lines if r.startswith(intake)).split(" | "), strict=False)
    )
    assert (row["failures"], row["status"], counted) == ("1", "ERROR", 1)
    head = tools.get_trace(intake).splitlines()[0]
    assert head.startswith(f"trace {intake}: 1 span, 1 failure (0 ERROR spans), ")


def test_since_filters_out_older_failures(telemetry: Telemetry) -> None:
    """A failure older than ``since`` is not listed."""
    tools = TelemetryTools(telemetry.db)
    assert telemetry.failed_span in tools.list_failures(since="1d")
    assert tools.list_failures(since="2999-01-01T00:00:00") == "no failures match"


def test_every_relation_of_the_contract_is_described(telemetry: Telemetry) -> None:
    """Each table and view has its one-line description in the schema answer."""
    assert set(RELATIONS) == set(list_relations(None))  # type: ignore[arg-type]
    text = TelemetryTools(telemetry.db).describe_schema()
    for name, about in RELATIONS.items():
        assert f"- {name}: {about}" in text


def test_queries_go_through_the_owner_when_one_serves_the_file(
    telemetry: Telemetry, tmp_path: Path
) -> None:
    """While a collector owns the file, SQL goes to its sandbox and is cut to the limit."""
    db = tmp_path / "owned.duckdb"
    shutil.copy(telemetry.db, db)
    collector = Collector(CollectorConfig(db=str(db), port=0))
    collector.start()
    try:
        tools = TelemetryTools(db)
        text = tools.query_sql("select span_id from spans order by span_id", limit=2)
        assert text.splitlines()[0] == "2 rows (cut at the limit of 2; raise limit, up to 500)"
        with pytest.raises(Exception, match="not allowed"):
            tools.query_sql("delete from spans", limit=2)
        assert telemetry.failed_trace in tools.list_traces()
    finally:
        collector.stop()
