"""Agents inherited from ancestors, agent calls and failure origins, settled as spans are
written, whatever order their batches arrive in."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from semtrace.store import queries
from semtrace.store._arrow import spans_tables
from semtrace.store.database import Store
from semtrace.store.lineage import Lineage
from semtrace.store.model import LogRecord, SpanEventRecord, SpanRecord

T = "c" * 32
T0 = 1_767_225_600_000_000_000


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


def span(
    sid: str,
    parent: str | None,
    *,
    start: int = 0,
    kind: str = "INTERNAL",
    error: str | None = None,
    exc: str | None = None,
    message: str | None = None,
    stacktrace: str | None = None,
    trace: str = T,
    **attributes: Any,
) -> SpanRecord:
    """A span ``sid`` (one letter, repeated to 16 hex digits) under ``parent``; ``error`` is
    its ERROR status message, ``exc`` the type of its exception event (with ``message`` and
    ``stacktrace``)."""
    said = {"exception.type": exc}
    if message:
        said["exception.message"] = message
    if stacktrace:
        said["exception.stacktrace"] = stacktrace
    events = (SpanEventRecord("exception", T0 + start + 5, said),) if exc else ()
    return SpanRecord(
        trace,
        sid * 16,
        parent * 16 if parent else None,
        f"span {sid}",
        kind,
        T0 + start,
        T0 + start + 10,
        status_code="ERROR" if error else "UNSET",
        status_message=error,
        attributes={k.replace("__", "."): v for k, v in attributes.items()},
        events=events,
    )


def lineage(store: Store) -> dict[str, tuple[Any, ...]]:
    rows = store.cursor().execute(
        "SELECT span_id, agent_name, agent_source, agent_call, error_origin FROM spans"
    )
    return {r[0][0]: (r[1], r[2], r[3], r[4] and r[4][0]) for r in rows.fetchall()}


AGENT = {"gen_ai__operation__name": "invoke_agent", "gen_ai__agent__name": "planner"}


def test_children_inherit_in_one_batch(store: Store) -> None:
    """In one batch, spans with no agent take their nearest ancestor's, marked inherited."""
    store.write_spans([span("b", "a", start=2), span("c", "b", start=3), span("a", None, **AGENT)])
    assert lineage(store) == {
        "a": ("planner", "explicit", True, None),
        "b": ("planner", "inherited", False, None),
        "c": ("planner", "inherited", False, None),
    }


def test_late_parent_fixes_children_written_before(store: Store) -> None:
    """Children and grandchildren written batches before their agent's span inherit its
    agent when it arrives (the usual order: spans end children first)."""
    store.write_spans([span("c", "b", start=3)])
    store.write_spans([span("b", "a", start=2), span("d", "b", start=4)])
    assert lineage(store)["c"] == (None, None, False, None)
    store.write_spans([span("a", None, **AGENT)])
    assert lineage(store) == {
        "a": ("planner", "explicit", True, None),
        "b": ("planner", "inherited", False, None),
        "c": ("planner", "inherited", False, None),
        "d": ("planner", "inherited", False, None),
    }


def test_child_after_parent_inherits(store: Store) -> None:
    """A span whose parent was written earlier (a remote child) inherits at once."""
    store.write_spans([span("a", None, **AGENT)])
    store.write_spans([span("b", "a", start=2, kind="SERVER")])
    assert lineage(store)["b"] == ("planner", "inherited", False, None)


def test_agent_calls_are_counted_once(store: Store) -> None:
    """A message handler (CONSUMER) is a call of its agent; an invoke_agent span inside a
    handler of the same agent is the same call, counted once; a span of another agent under
    it (a LangGraph node under its graph) is a call of that agent, even when written first."""
    store.write_spans(
        [
            span(
                "c", "b", start=3, gen_ai__operation__name="invoke_agent", semtrace__agent__name="A"
            ),
            span("b", None, start=2, kind="CONSUMER", semtrace__agent__name="A"),
        ]
    )
    store.write_spans([span("e", "d", start=5, metadata='{"langgraph_node": "plan"}')])
    store.write_spans([span("d", None, start=4, metadata='{"ls_integration": "langgraph"}')])
    got = lineage(store)
    assert got["b"][2:3] + got["c"][2:3] == (False, True)
    assert got["d"][:3] == ("span d", "explicit", True)  # the graph, named by its span
    assert got["e"][:3] == ("plan", "explicit", True)
    agents = dict(store.cursor().execute("SELECT agent_name, calls FROM agents").fetchall())
    assert agents == {"A": 1, "span d": 1, "plan": 1}


def test_one_failure_per_failure_across_batches(store: Store) -> None:
    """A tool's exception that propagates to its agent (ERROR, no exception of its own) and
    to the root (same exception type) is one failure with two spans of impact, with the
    batches written children first."""
    store.write_spans([span("c", "b", start=3, error="boom", exc="ValueError")])
    store.write_spans([span("b", "a", start=2, error="agent failed")])
    store.write_spans(
        [span("a", None, error="ValueError: boom", exc="builtins.ValueError", **AGENT)]
    )
    assert {k: v[3] for k, v in lineage(store).items()} == {"a": "c", "b": "c", "c": "c"}
    con = store.cursor()
    assert queries.failure_count(con) == 1
    (row,) = queries.failures(con).to_pylist()
    assert (row["span_id"], row["impact_count"], row["ended_in"], row["reached_root"]) == (
        "c" * 16,
        2,
        "span a",
        True,
    )


def test_a_new_exception_is_a_new_failure(store: Store) -> None:
    """A parent that fails with an exception of another type than its failed child's, and
    an ERROR span with no exception and no failed child, each start a failure."""
    store.write_spans(
        [
            span("c", "b", start=3, error="boom", exc="ValueError"),
            span("b", "a", start=2, error="wrapped", exc="RuntimeError"),
            span("a", None, **AGENT),
            span("e", None, start=9, error="gave up", trace="d" * 32),
        ]
    )
    got = lineage(store)
    assert (got["c"][3], got["b"][3], got["a"][3], got["e"][3]) == ("c", "b", None, "e")
    assert queries.failure_count(store.cursor()) == 3


def test_late_errored_child_takes_the_failure_over(store: Store) -> None:
    """An errored child written after its ERROR parent (another process, a later batch)
    becomes the failure's origin; the parent becomes its impact."""
    store.write_spans([span("a", None, error="failed", **AGENT)])
    assert queries.failure_count(store.cursor()) == 1
    store.write_spans([span("b", "a", start=2, error="boom", exc="TimeoutError")])
    assert {k: v[3] for k, v in lineage(store).items()} == {"a": "b", "b": "b"}
    assert queries.failure_count(store.cursor()) == 1


def test_a_batch_is_remembered_only_once_committed() -> None:
    """Preparing a batch changes nothing the writer remembers until commit: a batch whose
    transaction failed settles the same when it is written again."""
    lin = Lineage()
    first = lin.prepare(tables([span("b", "a", start=2)]))
    lin.commit(first)
    parent = tables([span("a", None, **AGENT)])
    tried = lin.prepare(parent)  # its transaction rolls back: no commit
    again = lin.prepare(parent)
    assert tried.fixes == again.fixes == [(T, "b" * 16, "planner", "inherited", False, T0 + 2)]
    lin.commit(again)
    assert lin.prepare(parent).fixes == []  # settled now


def tables(spans: list[SpanRecord]) -> list[tuple[str, Any]]:
    s, e, _ = spans_tables(spans)
    return [("spans", s), ("span_events", e)]


def test_traceback_in_status_moves_to_the_exception_event(store: Store) -> None:
    """A status message with a traceback stuffed in (LangChain's) keeps its first line; the
    traceback becomes the exception event's stacktrace, on an event it adds when the span
    had none (its type read from the traceback's last line)."""
    tb = 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: no vendor'
    store.write_spans(
        [
            span("a", None, error=f"ValueError('no vendor'){tb}"),
            SpanRecord(
                T, "b" * 16, None, "b", "INTERNAL", T0, T0 + 9, "ERROR", f"boom\n{tb}",
                events=(SpanEventRecord("exception", T0 + 5, {"exception.type": "ValueError"}),),
            ),
        ]
    )  # fmt: skip
    con = store.cursor()
    assert con.execute("SELECT span_id, status_message FROM spans ORDER BY 1").fetchall() == [
        ("a" * 16, "ValueError('no vendor')"),
        ("b" * 16, "boom"),
    ]
    events = con.execute(
        "SELECT span_id, exception_type, exception_message, exception_stacktrace "
        "FROM span_events ORDER BY 1"
    ).fetchall()
    assert events == [
        ("a" * 16, "ValueError", "no vendor", tb),
        ("b" * 16, "ValueError", None, tb),
    ]


WRAPPED = (
    'Traceback (most recent call last):\n  File "tools.py", line 9, in forward\n'
    "ValueError: vendor bad-1 has no Last-updated value\n\n"
    "The above exception was the direct cause of the following exception:\n\n"
    'Traceback (most recent call last):\n  File "agents.py", line 1502, in execute\n'
    "AgentToolExecutionError: tool lookup_vendor failed\n"
)


def test_an_exception_that_wraps_the_failure_is_its_impact(store: Store) -> None:
    """A parent whose exception of another type quotes the child's message (smolagents'
    AgentToolExecutionError around a tool's ValueError), or whose traceback names it as
    the direct cause, is the child's impact, not a second failure."""
    failing = "vendor bad-1 has no Last-updated value"
    store.write_spans(
        [
            span("c", "b", start=3, error=failing, exc="ValueError", message=failing),
            span(
                "b",
                "a",
                start=2,
                error="step failed",
                exc="AgentToolExecutionError",
                message=f"Error executing tool 'lookup_vendor': ValueError: {failing}",
            ),
            span("a", None, **AGENT),
            span(
                "f", "e", start=3, error=failing, exc="ValueError", message=failing, trace="d" * 32
            ),
            span(
                "e",
                None,
                start=2,
                error="tool lookup_vendor failed",
                trace="d" * 32,
                exc="AgentToolExecutionError",
                message="tool lookup_vendor failed",
                stacktrace=WRAPPED,
            ),
        ]
    )
    got = lineage(store)
    assert (got["c"][3], got["b"][3], got["f"][3], got["e"][3]) == ("c", "c", "f", "f")
    assert queries.failure_count(store.cursor()) == 2


def _story() -> list[SpanRecord]:
    """One trace whose root fails because a tool failed two levels down, below a span that
    did not error (the OpenAI Agents SDK's turn), next to a step that wraps the exception;
    and a second, independent failure in the same trace."""
    failing = "vendor bad-1 has no Last-updated value"
    return [
        span("a", None, start=0, error="run failed", **AGENT),
        span("b", "a", start=1),  # the turn: OK
        span(
            "c",
            "b",
            start=2,
            error="step failed",
            exc="AgentToolExecutionError",
            message=f"Error executing tool: ValueError: {failing}",
        ),
        span("d", "c", start=3, error=failing, exc="ValueError", message=failing),
        span("e", "a", start=4),
        span(
            "f",
            "e",
            start=5,
            error="quota exceeded for the day",
            exc="QuotaError",
            message="quota exceeded for the day",
        ),
    ]


def _origins(db: Path, batches: list[list[SpanRecord]]) -> tuple[dict[str, Any], int]:
    s = Store(db)
    try:
        for batch in batches:
            s.write_spans(batch)
        return {k: v[3] for k, v in lineage(s).items()}, queries.failure_count(s.cursor())
    finally:
        s.close()


def test_origins_do_not_depend_on_how_spans_are_cut_into_batches(tmp_path: Path) -> None:
    """The same spans written in any order and any cut into batches (children first as
    spans end, parents first as a remote child arrives late, all at once) settle the same
    failure origins: one failure carried up through a span that did not error and a step
    that wrapped it, and a second one beside it."""
    spans = _story()
    expected = ({"a": "d", "b": None, "c": "d", "d": "d", "e": None, "f": "f"}, 2)
    rng = random.Random(15)
    orders = [list(p) for p in itertools.permutations(spans)]
    cuts: list[list[list[SpanRecord]]] = [[spans], [spans[::-1]]]
    cuts += [[[x] for x in order] for order in rng.sample(orders, 24)]
    for order in rng.sample(orders, 24):
        at = sorted(rng.sample(range(1, len(order)), 2))
        cuts.append([order[: at[0]], order[at[0] : at[1]], order[at[1] :]])
    for n, batches in enumerate(cuts):
        got = _origins(tmp_path / f"cut{n}.duckdb", batches)
        assert got == expected, [[x.span_id[0] for x in b] for b in batches]


CAUGHT_SENTENCE = (
    "The procurement agent failed to retrieve the vendor ID because the Last-updated field "
    "was null, so no valid match could be made."
)


def _log(
    sid: str, at: int, message: str, *, event: str | None = "failure", log_id: str | None = None
) -> LogRecord:
    return LogRecord(
        T0 + at,
        message,
        "ERROR",
        trace_id=T,
        span_id=sid * 16,
        event_name=event,
        log_id=log_id or f"log-{sid}-{at}",
    )


def _caught_story() -> list[SpanRecord]:
    """A handler (b, did not error) under a root (a) catches a tool's failure (c, whose own
    cause is its child d, the same exception propagated); d and c end at 14 and 13."""
    return [
        span("a", None, start=0, **AGENT),
        span("b", "a", start=1, kind="CONSUMER"),
        span("c", "b", start=3, error="vendor V-2203 has no Last-updated", exc="VendorError"),
        span("d", "c", start=4, error="vendor V-2203 has no Last-updated", exc="VendorError"),
    ]


def _caught_failures(
    db: Path, batches: list[list[SpanRecord]], logs: list[LogRecord], logs_after: int
) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Write ``batches`` with ``logs`` written after the first ``logs_after`` of them; the
    spans' caught_failure and the failures view's (source, span, log, message)."""
    s = Store(db)
    try:
        for i, batch in enumerate(batches):
            if i == logs_after:
                s.write_logs(logs)
            s.write_spans(batch)
        if logs_after >= len(batches):
            s.write_logs(logs)
        con = s.cursor()
        caught = dict(con.execute("SELECT span_id[1], caught_failure[1] FROM spans").fetchall())
        rows = con.execute(
            "SELECT source, span_id[1], log_id, message FROM failures ORDER BY ALL"
        ).fetchall()
        assert queries.failure_count(con) == len(rows)
        return caught, rows
    finally:
        s.close()


def test_an_error_log_of_the_span_that_caught_a_failure_is_its_impact(tmp_path: Path) -> None:
    """An error log written on a span that did not error, after a failure below it ended (the
    span caught it: the demo's travel supervisor, the invoice handler), is that failure's
    impact sentence, not a second failure: the failure's message, preferred to its own
    automatic sentence. The same whatever order and cut the spans are written in, the logs
    before, between or after them (a late child below the span that wrote the log re-points
    what it caught)."""
    spans = _caught_story()
    logs = [
        _log("d", 12, "The procurement agent's tool lookup_vendor_id failed.", event="exception"),
        _log("b", 20, CAUGHT_SENTENCE),
        _log("b", 21, "invoice INV-7 put on hold", event=None),  # an error log, not semantic
    ]
    expected = (
        {"a": "d", "b": "d", "c": None, "d": None},
        [("span", "d", None, CAUGHT_SENTENCE)],
    )
    rng = random.Random(17)
    orders = [list(p) for p in itertools.permutations(spans)]
    cuts: list[list[list[SpanRecord]]] = [[spans], [spans[::-1]]]
    cuts += [[[x] for x in order] for order in rng.sample(orders, 8)]
    for order in rng.sample(orders, 8):
        at = rng.randrange(1, len(order))
        cuts.append([order[:at], order[at:]])
    # the ancestor that wrote the log first, the failure's deepest span last
    cuts.append([[spans[0], spans[1]], [spans[2]], [spans[3]]])
    for n, batches in enumerate(cuts):
        for logs_after in sorted({0, 1, len(batches)}):
            got = _caught_failures(
                tmp_path / f"c{n}-{logs_after}.duckdb", batches, logs, logs_after
            )
            assert got == expected, ([[x.span_id[0] for x in b] for b in batches], logs_after)


def test_error_logs_that_no_failure_explains_stay_failures(tmp_path: Path) -> None:
    """An error log on a span with no failed descendant is a failure of its own, and so is
    one written on the catching span before the failure below it ended (it cannot be about
    it); the failure then keeps its own sentence."""
    spans = _caught_story()
    logs = [
        _log("b", 2, "The invoice handler failed to read the invoice, so it retried."),
        _log("d", 12, "The procurement agent's tool lookup_vendor_id failed.", event="exception"),
        _log("e", 30, "The payments agent failed to pay INV-7.", log_id="log-e"),
    ]
    other = span("e", "a", start=20)  # did not error, nothing below it failed
    caught, rows = _caught_failures(tmp_path / "own.duckdb", [[*spans, other]], logs, 1)
    assert caught["b"] == "d" and caught["e"] is None
    assert rows == [
        ("log", "b", "log-b-2", "The invoice handler failed to read the invoice, so it retried."),
        ("log", "e", "log-e", "The payments agent failed to pay INV-7."),
        ("span", "d", None, "The procurement agent's tool lookup_vendor_id failed."),
    ]


def test_a_remembered_node_copy_keeps_every_field() -> None:
    """The writer changes copies of remembered spans until the batch commits: a field the
    copy forgot would be reset to its default on every late child or failure."""
    from dataclasses import fields

    from semtrace.store.lineage import _Node

    values = {f.name: (f"v-{f.name}" if f.type != "bool" else True) for f in fields(_Node)}
    values.update(call=True, error=True, start_ns=7, origin_ns=9, quotes=("q",), said=("s",))
    values["carry"] = ((1, "origin", "KeyError", ("m",)),)
    node = _Node(**values)
    copy = node.copy()
    assert copy == node and copy is not node
    copy.call = False
    assert node.call is True
