"""The dashboard's query functions against a database written by the real tracer."""

from __future__ import annotations

import pyarrow as pa

from semtrace.dashboard import queries as q
from tests.dashboard.scenario import DIAGNOSIS, FAILURE_SENTENCE_PART, LOG_SENTENCE, Scenario


def test_trace_list_text_search_finds_the_trace_by_a_sentence(qcon, scenario: Scenario) -> None:
    """Free text over log sentences returns only the traces that said it, with the sentence."""
    rows = q.trace_list(qcon, text="lisbon").to_pylist()
    assert [r["trace_id"] for r in rows] == [scenario.travel_trace]
    assert rows[0]["matched_sentence"] == LOG_SENTENCE


def test_trace_list_text_search_covers_failure_sentences(qcon, scenario: Scenario) -> None:
    """A failure's status sentence is searchable as well as the log sentences."""
    rows = q.trace_list(qcon, text="last-updated").to_pylist()
    assert [r["trace_id"] for r in rows] == [scenario.travel_trace]
    assert FAILURE_SENTENCE_PART in rows[0]["matched_sentence"]


def test_trace_list_filters_by_status_agent_and_time(qcon, scenario: Scenario) -> None:
    """Status, agent and time filters each narrow the list to the matching traces."""
    assert [r["trace_id"] for r in q.trace_list(qcon, status="error").to_pylist()] == [
        scenario.travel_trace
    ]
    by_agent = q.trace_list(qcon, agents=["intake", "compliance"]).to_pylist()
    assert {r["trace_id"] for r in by_agent} == {scenario.intake_trace, scenario.extraction_trace}
    assert q.trace_list(qcon, since="2999-01-01T00:00:00+00:00").num_rows == 0
    assert q.trace_list(qcon, services=["test-service"]).num_rows == 3
    assert q.trace_list(qcon, services=["other"]).num_rows == 0


def test_filter_options_list_services_and_agents(qcon) -> None:
    """The filter choices are the services and agents in the store."""
    opts = q.filter_options(qcon)
    assert opts["services"] == ["test-service"]
    assert opts["agents"] == ["compliance", "extraction", "flight", "hotel", "intake", "supervisor"]


def test_find_trace_accepts_an_id_a_prefix_or_a_span_id(qcon, scenario: Scenario) -> None:
    """A full id, a unique pasted prefix (any case) or the id of one of its spans names the
    trace."""
    assert q.find_trace(qcon, scenario.travel_trace).trace_id == scenario.travel_trace
    assert q.find_trace(qcon, scenario.travel_trace[:10].upper()).trace_id == scenario.travel_trace
    assert q.find_trace(qcon, scenario.failed_span).trace_id == scenario.travel_trace


def test_find_trace_says_why_an_id_names_no_trace(qcon, scenario: Scenario) -> None:
    """An unknown id, a non-hex string and an ambiguous prefix name no trace; each says why,
    and offers the traces it could mean."""
    unknown = q.find_trace(qcon, "deadbeef")
    assert unknown.trace_id is None and unknown.candidates == []
    assert unknown.problem == "No trace has the id `deadbeef` (nor a span with that id)."
    assert "not a trace id" in (q.find_trace(qcon, "zzzz").problem or "")
    inner = scenario.travel_trace[5:15]
    near = q.find_trace(qcon, inner)
    assert near.trace_id is None
    assert [c["trace_id"] for c in near.candidates] == [scenario.travel_trace]


def _skeleton(
    spans: list[tuple[str, str | None, int, int]], failed: set[str] | frozenset[str] = frozenset()
) -> pa.Table:
    """A skeleton table in the shape trace_skeleton returns (id, parent, start, end)."""
    spans = sorted(spans, key=lambda s: s[2])
    n = len(spans)
    return pa.table(
        {
            "span_id": [s[0] for s in spans],
            "parent_span_id": [s[1] for s in spans],
            "name": [f"op {s[0]}" for s in spans],
            "start_time_ns": [s[2] for s in spans],
            "end_time_ns": [s[3] for s in spans],
            "duration_ms": [(s[3] - s[2]) / 1e6 for s in spans],
            "status_code": ["ERROR" if s[0] in failed else "OK" for s in spans],
            "agent_name": ["a"] * n,
            "operation": [None] * n,
            "service_name": ["svc"] * n,
        }
    )


def test_critical_path_follows_the_child_that_ended_last() -> None:
    """Parallel children: the slow one is critical, so are the steps that ran before it in
    sequence; a fast child overlapping the slow one is not."""
    tree = q.TraceTree.from_table(
        _skeleton(
            [
                ("root", None, 0, 100),
                ("prep", "root", 0, 20),
                ("fast", "root", 20, 40),
                ("slow", "root", 20, 95),
                ("slow.db", "slow", 30, 90),
                ("slow.cache", "slow", 21, 25),
            ]
        )
    )
    assert tree.critical_path() == ["root", "prep", "slow", "slow.cache", "slow.db"]


def test_tree_collapses_levels_to_fit_and_expands_on_demand() -> None:
    """The first view opens whole levels while they fit (a collapsed span counts the failures
    it hides); expanding a span shows its children and a focus range hides spans outside it."""
    spans: list[tuple[str, str | None, int, int]] = [("r", None, 0, 1000)]
    failed = {"c3.7"}
    for i in range(5):
        spans.append((f"c{i}", "r", i * 200, i * 200 + 150))
        for j in range(50):
            spans.append((f"c{i}.{j}", f"c{i}", i * 200 + j, i * 200 + j + 1))
    tree = q.TraceTree.from_table(_skeleton(spans, failed=failed))
    assert len(tree) == 256
    opened = tree.default_expanded(budget=100)
    assert opened == {"r"}
    rows = tree.rows(tree.visible(opened), opened)
    assert [r["span_id"] for r in rows] == ["r", "c0", "c1", "c2", "c3", "c4"]
    assert rows[1]["collapsed"] and rows[1]["hidden"] == 50
    assert [r["hidden_errors"] for r in rows] == [0, 0, 0, 0, 1, 0]
    opened.add("c2")
    visible = [tree.ids[i] for i in tree.visible(opened)]
    assert visible[:4] == ["r", "c0", "c1", "c2"] and visible[4] == "c2.0" and len(visible) == 56
    focused = [tree.ids[i] for i in tree.visible(opened, focus=(395, 402))]
    assert focused == ["r", "c2", "c2.0", "c2.1", "c2.2"]
    assert tree.path_to("c3.7") == ["r", "c3"]


def test_trace_skeleton_has_no_attributes_and_span_detail_has_them(
    qcon, scenario: Scenario
) -> None:
    """The skeleton is narrow; one span's detail carries attributes, the exception event and
    the failure sentence."""
    skeleton = q.trace_skeleton(qcon, scenario.travel_trace)
    assert skeleton.num_rows == 7 and "attributes" not in skeleton.column_names
    assert skeleton.column_names == list(q.SKELETON_COLUMNS)
    detail = q.span_detail(qcon, scenario.travel_trace, scenario.failed_span)
    assert detail is not None
    assert detail["span"]["attributes"]["gen_ai.tool.name"] == "lookup_vendor"
    assert [e["name"] for e in detail["events"]] == ["exception"]
    assert FAILURE_SENTENCE_PART in detail["span"]["status_message"]


def test_trace_failures_carry_the_diagnosis(qcon, scenario: Scenario) -> None:
    """A failed span of the trace comes with its sentence and stored diagnosis."""
    rows = q.trace_failures(qcon, scenario.travel_trace)
    assert [(r["span_id"], r["diagnosis"], r["category"]) for r in rows] == [
        (scenario.failed_span, DIAGNOSIS, "missing_data")
    ]


def test_causal_scope_follows_links_both_ways(qcon, scenario: Scenario) -> None:
    """From the consumer: the producer's span path is what caused it; from the producer: the
    consumer's trace is what it caused; the ambient link to the travel trace is no cause."""
    back = q.causal_scope(qcon, scenario.extraction_trace)
    assert back.whole == (scenario.extraction_trace,)
    assert set(back.partial) == {scenario.intake_trace}
    assert len(back.partial[scenario.intake_trace]) == 2  # the producer span and its agent
    ahead = q.causal_scope(qcon, scenario.intake_trace)
    assert ahead.whole == (scenario.intake_trace, scenario.extraction_trace)
    assert ahead.partial == {}
    alone = q.causal_scope(qcon, scenario.travel_trace)
    assert (alone.whole, alone.partial) == ((scenario.travel_trace,), {})


def test_replay_events_tell_the_run_in_order(qcon, scenario: Scenario) -> None:
    """Replay events interleave span starts/ends, sentences, the message between agents and
    the task's state changes, numbered by step in time order."""
    scope = q.causal_scope(qcon, scenario.intake_trace)
    events = q.replay_events(qcon, scope).to_pylist()
    assert [e["step"] for e in events] == list(range(len(events)))
    assert [e["time_ns"] for e in events] == sorted(e["time_ns"] for e in events)
    message = next(e for e in events if e["kind"] == "message")
    assert (message["peer"], message["agent"], message["text"]) == (
        "intake",
        "extraction",
        "invoice.received",
    )
    tasks = [(e["name"], e["status"]) for e in events if e["kind"] == "task_state"]
    assert tasks == [
        ("task-42", "working"),
        ("task-42", "input_required"),
        ("task-42", "completed"),
    ]
    said = [e["text"] for e in events if e["kind"] == "log"]
    assert said == ["the intake agent received invoice INV-7 and published it"]
    call = next(e for e in events if e["kind"] == "span_start" and e["agent"] == "compliance")
    assert call["peer"] == "extraction"
    assert events.index(message) < events.index(call)


def test_agent_edges_count_calls_and_messages_with_tokens(qcon) -> None:
    """Edges come from parent/child spans across agents and from links, with the callee's
    tokens during the call."""
    edges = {(e["source"], e["target"], e["kind"]): e for e in q.agent_edges(qcon).to_pylist()}
    assert set(edges) == {
        ("supervisor", "flight", "call"),
        ("supervisor", "hotel", "call"),
        ("extraction", "compliance", "call"),
        ("intake", "extraction", "message"),
    }
    flight = edges[("supervisor", "flight", "call")]
    assert (flight["count"], flight["errors"], flight["input_tokens"], flight["output_tokens"]) == (
        1,
        0,
        120,
        30,
    )
    assert edges[("intake", "extraction", "message")]["input_tokens"] == 120


def test_orchestration_patterns_name_each_group_of_agents() -> None:
    """Each connected group gets its pattern: one caller delegating is a supervisor; a hub
    fanning messages out to specialists that answer to one inbox is a broker; agents
    reacting to messages without such a hub are a choreography."""

    def edges(rows: list[tuple[str, str, str]]) -> pa.Table:
        return pa.Table.from_pylist([{"source": s, "target": t, "kind": k} for s, t, k in rows])

    supervisor = [("sup", "a", "call"), ("sup", "b", "call")]
    broker = [("inbox", "broker", "message"), ("broker", "x", "message")]
    broker += [("broker", "y", "message"), ("x", "inbox", "message"), ("y", "inbox", "message")]
    chain = [("intake", "extract", "message"), ("extract", "pay", "message")]
    found = q.orchestration_patterns(edges(supervisor + broker + chain))
    assert [name for name, _ in found] == ["broker", "choreography", "supervisor"]
    assert found[0][1] == "broker routes messages to x, y; results flow back to inbox"
    assert found[2][1] == "sup calls a, b and holds the global view"
    assert q.orchestration_pattern(edges(supervisor))[0] == "supervisor"
    assert q.orchestration_pattern(edges(supervisor + chain))[0] == "mixed"
    assert q.orchestration_pattern(edges([]))[0] == "single agent"


def test_failure_groups_show_counts_example_and_diagnosis(qcon, scenario: Scenario) -> None:
    """Failures group by fingerprint with an example sentence, trace and diagnosis."""
    (group,) = q.failure_groups(qcon)
    assert group["fingerprint"] == scenario.fingerprint
    assert (group["occurrences"], group["traces"], group["agent_name"]) == (1, 1, "hotel")
    assert FAILURE_SENTENCE_PART in group["example_sentence"]
    assert group["example_trace"] == scenario.travel_trace
    assert group["example_span"] == scenario.failed_span
    assert group["diagnosis"] == DIAGNOSIS
    detail = q.diagnosis_detail(qcon, scenario.fingerprint)
    assert detail is not None and detail["remediations"][0]["action"] == "fix_input"


def test_task_changes_and_human_wait(qcon) -> None:
    """State changes come back in order and the input_required interval counts as human wait."""
    changes = q.task_state_changes(qcon).to_pylist()
    assert [c["status"] for c in changes] == ["working", "input_required", "completed"]
    assert changes[1]["status_message"] == "need a human to confirm the vendor"
    (summary,) = q.task_summaries(changes)
    assert summary["task_id"] == "task-42" and summary["status"] == "completed"
    wait = (changes[2]["time_ns"] - changes[1]["time_ns"]) / 1e6
    assert summary["human_wait_ms"] == round(wait, 3) and wait > 0
    assert q.task_state_changes(qcon, task_id="other").num_rows == 0


def test_missing_views_degrade_to_none(qcon) -> None:
    """A view another part of semtrace has not added to this file yet reads as absent."""
    assert q.relation_exists(qcon, "traces")
    if not q.relation_exists(qcon, "tasks"):
        assert q.task_list(qcon) is None
    assert not q.relation_exists(qcon, "no_such_view")


def test_schema_catalog_lists_tables_and_views_once(qcon) -> None:
    """The SQL page's schema lists each column once, tables and views alike."""
    rows = q.schema_catalog(qcon).to_pylist()
    pairs = [(r["table_name"], r["column_name"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    assert ("spans", "trace_id") in pairs and ("traces", "root_name") in pairs
