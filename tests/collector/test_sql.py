"""The read-only SQL endpoint: queries answer, every escape hatch is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from semtrace.collector.server import Collector
from semtrace.collector.sql import QueryRefused, check_read_only
from tests.collector.conftest import post, span_request


def _query(c: Collector, sql: str, **extra: object) -> tuple[int, dict[str, object]]:
    reply = post(c.url, "/v1/query", orjson.dumps({"sql": sql, **extra}), "application/json")
    return reply.status, orjson.loads(reply.body)


@pytest.fixture
def loaded(collector: Collector) -> Collector:
    req = span_request(
        [
            {
                "name": f"execute_tool lookup-{i}",
                "attributes": {
                    "gen_ai.tool.name": f"t{i}",
                    "gen_ai.operation.name": "execute_tool",
                },
            }
            for i in range(5)
        ]
    )
    assert post(collector.url, "/v1/traces", req.SerializeToString()).status == 200
    return collector


def test_a_select_answers_json_rows(loaded: Collector) -> None:
    """A SELECT over the views returns columns, types and rows as JSON."""
    status, doc = _query(loaded, "select tool_name from tool_calls order by tool_name limit 2")
    assert status == 200
    assert doc == {
        "columns": ["tool_name"],
        "types": ["string"],
        "rows": [["t0"], ["t1"]],
        "truncated": False,
    }


def test_params_and_arrow_format(loaded: Collector) -> None:
    """Parameters bind positionally and format=arrow answers an Arrow IPC stream."""
    reply = post(
        loaded.url,
        "/v1/query",
        orjson.dumps(
            {
                "sql": "select count(*) as n from spans where tool_name <> ?",
                "params": ["t0"],
                "format": "arrow",
            }
        ),
        "application/json",
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(reply.body).read_all()
    assert table.to_pylist() == [{"n": 4}]


def test_the_row_limit_truncates_and_says_so(loaded: Collector) -> None:
    """A result longer than the limit is cut at the limit and flagged as truncated."""
    status, doc = _query(loaded, "select * from range(100000)", limit=3)
    assert status == 200
    assert doc["rows"] == [[0], [1], [2]]
    assert doc["truncated"] is True


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("select * from read_csv('/etc/passwd')", "disabled by configuration"),
        ("select * from read_text('/etc/passwd')", "disabled by configuration"),
        ("select * from '/etc/passwd'", ""),
        ("select * from glob('/*')", "disabled by configuration"),
        ("COPY spans TO '/tmp/semtrace-escape.csv'", "COPY statements are not allowed"),
        ("EXPORT DATABASE '/tmp/semtrace-escape'", "not allowed"),
        ("ATTACH '/tmp/semtrace-escape.duckdb' AS other", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "not allowed"),
        ("LOAD httpfs", "not allowed"),
        ("PRAGMA enable_external_access", "PRAGMA statements are not allowed"),
        ("SET enable_external_access = true", "SET statements are not allowed"),
        ("RESET lock_configuration", "not allowed"),
        ("CREATE TABLE evil AS SELECT 1", "CREATE statements are not allowed"),
        ("DROP TABLE spans", "DROP statements are not allowed"),
        ("DELETE FROM spans", "DELETE statements are not allowed"),
        ("UPDATE spans SET name = 'x'", "UPDATE statements are not allowed"),
        ("INSERT INTO spans SELECT * FROM spans", "INSERT statements are not allowed"),
        ("select 1; drop table spans", "only one statement"),
        ("CALL checkpoint()", "not allowed"),
        ("select * from query('delete from spans')", ""),
    ],
)
def test_escapes_are_refused_with_a_clear_error(loaded: Collector, sql: str, reason: str) -> None:
    """Writes, files, attach, extensions, settings and multiple statements are all refused."""
    status, doc = _query(loaded, sql)
    assert status == 400
    assert reason in str(doc["message"])
    count_status, count = _query(loaded, "select count(*) from spans")
    assert (count_status, count["rows"]) == (200, [[5]])
    assert not Path("/tmp/semtrace-escape.csv").exists()


def test_settings_cannot_be_changed_back(loaded: Collector) -> None:
    """Even the in-process writer connection cannot re-enable file access."""
    cur = loaded.store.cursor()
    with pytest.raises(Exception, match="locked"):
        cur.execute("SET enable_external_access = true")


def test_check_read_only_accepts_select_with_and_from_forms() -> None:
    """SELECT, WITH ... SELECT, FROM-first and DESCRIBE parse as read-only queries."""
    for sql in ("select 1", "with a as (select 1) select * from a", "from spans", "describe spans"):
        assert check_read_only(sql) == sql
    with pytest.raises(QueryRefused, match="does not parse"):
        check_read_only("selec 1")


def test_a_runaway_query_hits_the_time_limit(make_collector: Callable[..., Collector]) -> None:
    """A query running past query_timeout_s is interrupted and answered 408."""
    c = make_collector(query_timeout_s=0.5)
    status, doc = _query(c, "select count(*) from range(1000000000000) a, range(1000) b")
    assert status == 408
    assert "longer than 0.5 s" in str(doc["message"])
    status, doc = _query(c, "select 42")
    assert (status, doc["rows"]) == (200, [[42]])


def test_sql_errors_say_what_duckdb_said(loaded: Collector) -> None:
    """A query on a missing table is a 400 carrying DuckDB's message."""
    status, doc = _query(loaded, "select * from no_such_table")
    assert status == 400
    assert "no_such_table" in str(doc["message"])


def test_repeated_column_names_keep_every_column(loaded: Collector) -> None:
    """/v1/query keeps every column when names repeat: JSON columns and rows line up, and the
    Arrow result carries the same unique names."""
    sql = "select 2 as a, 3 as a, 4 as b"
    status, doc = _query(loaded, sql)
    assert status == 200
    assert (doc["columns"], doc["rows"]) == (["a", "a_1", "b"], [[2, 3, 4]])
    reply = post(
        loaded.url, "/v1/query", orjson.dumps({"sql": sql, "format": "arrow"}), "application/json"
    )
    table = pa.ipc.open_stream(reply.body).read_all()
    assert table.to_pylist() == [{"a": 2, "a_1": 3, "b": 4}]
