"""Runs, sessions and causal scopes on the demo's database: the traces of one piece of work
grouped again, whatever trace one starts from."""

from __future__ import annotations

from semtrace.dashboard import queries as q
from tests.dashboard.conftest import Demo


def _sql(con, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    return list(con.sql(sql).fetchall())


def test_the_demo_story_is_sixteen_runs(dcon) -> None:  # type: ignore[no-untyped-def]
    """Four trips, six invoices (one intake batch) and six support requests are 16 runs over
    the 53 traces; every trace belongs to a run, and a run's failures are its own traces'
    failure_count (as the failures view counts them): it failed exactly when it has one."""
    runs = q.run_list(dcon)
    traces = _sql(dcon, "SELECT trace_id, failure_count FROM traces")
    assert len(runs) == 16
    assert {t for r in runs for t in r["trace_ids"]} == {t for t, _ in traces}
    titles = sorted(r["title"] for r in runs)
    assert titles.count("invoke_agent travel_supervisor") == 4
    assert titles.count("send request.received") == 6
    assert titles.count("invoke_agent intake → send invoice.received") == 6
    failures = dict(traces)
    for r in runs:
        own = r["trace_ids"][1:] if "→" in r["title"] else r["trace_ids"]
        assert r["failures"] == sum(failures[t] for t in own)
        assert (r["status"] == "ERROR") == (r["failures"] > 0)


def test_a_consumer_trace_belongs_to_the_run_of_its_message(dcon, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """The trace of procurement's failure is in the run of one invoice: the shared intake
    trace, that invoice's extraction, procurement, compliance and on-hold traces, nothing of
    the other invoices."""
    (run,) = q.runs_of(dcon, [demo.vendor_failure])
    assert run.shared and run.via_span is not None
    assert demo.vendor_failure in run.traces
    roots = dict(
        _sql(
            dcon,
            "SELECT trace_id, root_name FROM traces WHERE trace_id IN "
            f"({', '.join(repr(t) for t in run.traces)})",
        )
    )
    assert sorted(roots.values()) == sorted(
        [
            "invoke_agent intake",
            "process invoice.received",
            "process invoice.extracted",
            "process invoice.extracted",
            "process invoice.on_hold",
        ]
    )


def test_the_causal_scope_of_one_invoice_leaves_the_batch_out(dcon, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """Replaying procurement's failure covers what caused it (the publishing spans of its
    own invoice only) and what it caused, not the other invoices of the batch."""
    scope = q.causal_scope(dcon, demo.vendor_failure)
    (on_hold,) = scope.whole[1:]
    assert _sql(dcon, f"SELECT root_name FROM traces WHERE trace_id = '{on_hold}'") == [
        ("process invoice.on_hold",)
    ]
    intake = _sql(dcon, "SELECT trace_id FROM traces WHERE root_name = 'invoke_agent intake'")
    sends = _sql(
        dcon,
        f"SELECT count(*) FROM spans WHERE trace_id = '{intake[0][0]}' AND kind = 'PRODUCER'",
    )[0][0]
    assert sends == 6
    assert len(scope.partial[intake[0][0]]) == 2  # its own send and the intake agent's span
    events = q.replay_events(dcon, scope).to_pylist()
    assert {e["trace_id"] for e in events} == {*scope.whole, *scope.partial}
    assert sum(e["kind"] == "message" for e in events) == 3  # received, extracted, on_hold


def test_sessions_group_runs_as_turns(dcon) -> None:  # type: ignore[no-untyped-def]
    """Each trip is a session; its turn has the trace's root and, for the failed trip, the
    failure sentence."""
    sessions = {s["session_id"]: s for s in q.session_list(dcon)}
    assert set(sessions) == {"TRIP-0001", "TRIP-0002", "TRIP-0003", "TRIP-0004"}
    failed = [s for s in sessions.values() if s["failed_turns"]]
    assert len(failed) == 1
    (turn,) = q.session_turns(dcon, failed[0]["session_id"])
    assert turn["status"] == "ERROR" and "hotel" in (turn["failure"] or "")
    assert turn["root_name"] == "invoke_agent travel_supervisor"


def test_an_ambiguous_prefix_lists_the_traces_it_matches(dcon) -> None:  # type: ignore[no-untyped-def]
    """A prefix shared by several of the demo's traces names none of them and lists them."""
    (prefix, n), *_ = _sql(
        dcon,
        "SELECT left(trace_id, 1), count(*) FROM traces GROUP BY 1 HAVING count(*) > 1 "
        "ORDER BY 2 DESC, 1",
    )
    found = q.find_trace(dcon, prefix)
    assert found.trace_id is None
    assert len(found.candidates) == min(n, 10)
    assert all(c["trace_id"].startswith(prefix) for c in found.candidates)
    assert "pick one" in (found.problem or "")


def test_similar_traces_are_the_same_workflow(dcon, demo: Demo) -> None:  # type: ignore[no-untyped-def]
    """The runs to compare the failing trip with are the three other trips."""
    similar = q.similar_traces(dcon, demo.failing_trip)
    assert len(similar) == 3
    assert {s["root_name"] for s in similar} == {"invoke_agent travel_supervisor"}
    assert demo.failing_trip not in {s["trace_id"] for s in similar}
