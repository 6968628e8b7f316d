"""semtrace.query() as pandas/polars/Arrow, and semtrace.trace() drawing its tree as HTML."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import semtrace
from semtrace.exceptions import ConfigurationError, QueryError


def _run_agent() -> str:
    @semtrace.tool("lookup_vendor")
    def lookup_vendor(vendor: str) -> str:
        raise KeyError(vendor)

    @semtrace.agent("procurement")
    def procure() -> None:
        with semtrace.step("match invoice"):
            pass
        with contextlib.suppress(KeyError):
            lookup_vendor("ACME <Ltd>")

    procure()
    semtrace.force_flush()
    return str(semtrace.query("SELECT trace_id FROM traces", format="arrow")[0][0])


def test_query_returns_pandas_polars_or_arrow(configured: Any) -> None:
    """The same SQL comes back as a pandas DataFrame, a polars DataFrame or an Arrow table."""
    _run_agent()
    sql = "SELECT name, agent_name FROM spans WHERE operation = ? ORDER BY name"
    frame = semtrace.query(sql, ["execute_tool"])
    assert isinstance(frame, pd.DataFrame)
    assert frame.to_dict("records") == [
        {"name": "execute_tool lookup_vendor", "agent_name": "procurement"}
    ]
    table = semtrace.query(sql, ["execute_tool"], format="arrow")
    assert isinstance(table, pa.Table)
    assert table.to_pylist() == frame.to_dict("records")
    pl = pytest.importorskip("polars")
    polars_frame = semtrace.query(sql, ["execute_tool"], format="polars", db=configured)
    assert isinstance(polars_frame, pl.DataFrame)
    assert polars_frame.to_dicts() == frame.to_dict("records")


def test_query_errors_are_actionable(configured: Any) -> None:
    """A bad format or bad SQL raises semtrace's own errors, naming what is allowed."""
    with pytest.raises(ConfigurationError, match="'pandas', 'polars' or 'arrow'"):
        semtrace.query("SELECT 1", format="excel")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="Views: traces"):
        semtrace.query("SELECT * FROM no_such_table")


def test_trace_repr_html_draws_the_tree_escaped(configured: Any) -> None:
    """A trace renders its spans nested in start order, errors marked, text HTML-escaped."""
    trace_id = _run_agent()
    t = semtrace.trace(trace_id[:8])
    assert t.trace_id == trace_id
    assert [(depth, node.name) for depth, node in t.walk()] == [
        (0, "invoke_agent procurement"),
        (1, "invoke_workflow match invoice"),
        (1, "execute_tool lookup_vendor"),
    ]
    html = t._repr_html_()
    names = re.findall(
        r'<tr class="semtrace-span"><td style="padding-left:(\d+)px;[^>]*>([^<]+)', html
    )
    assert names == [
        ("4", "invoke_agent procurement"),
        ("22", "invoke_workflow match invoice"),
        ("22", "execute_tool lookup_vendor"),
    ]
    assert "ACME &lt;Ltd&gt;" in html and "ACME <Ltd>" not in html
    assert html.count("#d9534f") >= 2  # the failed tool's message and bar are red
    text = repr(t)
    assert text.splitlines()[0] == f"Trace {trace_id} (3 spans, {t.logs.num_rows} logs)"
    assert "execute_tool lookup_vendor" in text and "✗" in text


def test_unknown_trace_id_says_so(configured: Any) -> None:
    """semtrace.trace() of an id not in the database raises QueryError."""
    _run_agent()
    with pytest.raises(QueryError, match="no trace with id 'ffff'"):
        semtrace.trace("ffff")
