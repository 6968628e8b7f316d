"""The dashboard's pure logic: stack traces, gaps, inherited agents, aligning two runs, the
agent graph's layout and reading inputs and outputs from any convention."""

from __future__ import annotations

import pyarrow as pa

from semtrace.dashboard import align, gaps, stacktrace
from semtrace.dashboard.content import as_text, span_input, span_output
from semtrace.dashboard.graph_layout import layered_layout
from semtrace.dashboard.tree import Gap, TraceTree

TRACEBACK = """Traceback (most recent call last):
  File "/app/.venv/lib/python3.11/site-packages/semtrace/tracer/decorators.py", line 242, in wrapper
    result = fn(*args, **kwargs)
             ^^^^^^^^^^^^^^^^^^^
  File "/app/agents/procurement.py", line 88, in lookup_vendor_id
    record = client.get(vendor)
  File "/usr/lib/python3.11/asyncio/tasks.py", line 10, in run
    step()
  File "/app/.venv/lib/python3.11/site-packages/httpx/_client.py", line 900, in get
    return self.send(request)
  File "/app/agents/vendors.py", line 12, in check
    raise VendorRecordError("last_updated is null")
agents.vendors.VendorRecordError: last_updated is null
"""


def test_stack_trace_keeps_app_frames_folds_libraries_and_hides_semtrace() -> None:
    """The application's frames stay (with their source line), a run of library frames is
    one folded group naming its packages, semtrace's decorator frame is gone, and the
    exception line ends the section."""
    (section,) = stacktrace.parse(TRACEBACK)
    assert [f.kind for f in section.frames] == ["semtrace", "app", "library", "library", "app"]
    shown = stacktrace.fold(section.frames)
    assert [type(item).__name__ for item in shown] == ["Frame", "list", "Frame"]
    first, libraries, last = shown
    assert isinstance(first, stacktrace.Frame) and isinstance(last, stacktrace.Frame)
    assert (first.function, first.where, first.code) == (
        "lookup_vendor_id",
        "agents/procurement.py:88",
        "record = client.get(vendor)",
    )
    assert isinstance(libraries, list) and [f.package for f in libraries] == ["asyncio", "httpx"]
    assert section.exception == "agents.vendors.VendorRecordError: last_updated is null"


def test_chained_exceptions_are_sections_with_their_cause() -> None:
    """A chained traceback parses into one section per exception, the later one carrying
    the sentence Python put between them; the demo's own modules count as application."""
    text = TRACEBACK + (
        "\nThe above exception was the direct cause of the following exception:\n\n"
        + TRACEBACK.replace("/app/agents/procurement.py", "/x/src/semtrace/demo/choreography.py")
    )
    first, second = stacktrace.parse(text)
    assert first.cause is None
    assert second.cause == "The above exception was the direct cause of the following exception:"
    assert second.frames[1].kind == "app"
    assert stacktrace.parse("ValueError: no traceback here") == []


def _skeleton(rows: list[tuple[str, str | None, int, int, str | None, str]]) -> pa.Table:
    """A skeleton (id, parent, start, end, agent, kind) in the shape trace_skeleton returns."""
    rows = sorted(rows, key=lambda r: r[2])
    return pa.table(
        {
            "span_id": [r[0] for r in rows],
            "parent_span_id": [r[1] for r in rows],
            "name": [f"op {r[0]}" for r in rows],
            "kind": [r[5] for r in rows],
            "start_time_ns": [r[2] for r in rows],
            "end_time_ns": [r[3] for r in rows],
            "duration_ms": [(r[3] - r[2]) / 1e6 for r in rows],
            "status_code": ["OK"] * len(rows),
            "agent_name": [r[4] for r in rows],
            "operation": [None] * len(rows),
            "service_name": ["svc"] * len(rows),
        }
    )


MS = 1_000_000


def test_gaps_between_children_are_found_and_named() -> None:
    """A parent idle between two children, and after its last child, has two gaps; the one
    before a retry that waited is a backoff, the other a wait; short ones are ignored."""
    tree = TraceTree.from_table(
        _skeleton(
            [
                ("root", None, 0, 1000 * MS, "contracts", "CONSUMER"),
                ("call1", "root", 0, 10 * MS, "contracts", "CLIENT"),
                ("retry", "root", 410 * MS, 420 * MS, None, "INTERNAL"),
                ("call2", "retry", 411 * MS, 419 * MS, "contracts", "CLIENT"),
                ("reply", "root", 420 * MS + MS // 2, 430 * MS, "contracts", "PRODUCER"),
            ]
        )
    )
    opened = {"root", "retry"}
    found = tree.gaps(tree.visible(opened), min_ms=gaps.min_gap_ms(1000))
    assert found == [
        Gap("root", "retry", 10 * MS, 410 * MS),
        Gap("root", None, 430 * MS, 1000 * MS),
    ]
    hints = {"retry": {"heal_action": "retry_with_backoff", "heal_delay_s": 0.4}}
    named = gaps.explain_gaps(found, hints)
    assert [(g["kind"], g["label"]) for g in named] == [
        ("backoff", "backoff 400 ms"),
        ("waiting", "waiting 570 ms"),
    ]
    rows = tree.rows(tree.visible(opened), opened)
    retry = next(r for r in rows if r["span_id"] == "retry")
    assert (retry["agent"], retry["agent_inherited"]) == ("contracts", True)


def test_human_and_queue_waits_come_from_task_states_and_links() -> None:
    """Time in input_required is a human wait on the task's row (and the gap it covers is
    not named twice); a consumer's time since the message was published is a queue wait."""
    markers = [
        {"time_ns": 5 * MS, "span_id": "task", "kind": "task", "level": "working"},
        {"time_ns": 20 * MS, "span_id": "task", "kind": "task", "level": "input_required"},
        {"time_ns": 420 * MS, "span_id": "task", "kind": "task", "level": "working"},
    ]
    human = gaps.human_waits(markers)
    assert [(h["span_id"], h["start_ns"], h["end_ns"], h["label"]) for h in human] == [
        ("task", 20 * MS, 420 * MS, "waiting on a human 400 ms")
    ]
    covered = gaps.explain_gaps([Gap("root", "after", 25 * MS, 400 * MS)], {}, human)
    assert covered == []
    queued = gaps.queue_waits(
        [{"span_id": "consume", "start_time_ns": 30 * MS}], {"consume": {"published_ns": 0}}
    )
    assert [(q["kind"], q["label"]) for q in queued] == [("queue", "queue wait 30.0 ms")]


def _span(trace: str, span: str, parent: str | None, name: str, start: int, **extra: object):  # type: ignore[no-untyped-def]
    return {
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "name": name,
        "start_time_ns": start,
        "end_time_ns": start + int(float(str(extra.get("duration_ms", 1))) * MS),
        "duration_ms": extra.get("duration_ms", 1.0),
        "status_code": extra.get("status", "OK"),
        "agent_name": extra.get("agent", "sup"),
        "operation": extra.get("operation"),
        "attributes": extra.get("attributes", {}),
    }


def test_two_runs_align_step_by_step() -> None:
    """The same steps pair up; a step only B had is added, one only A had is missing; a
    changed outcome, a much slower step, a different tool input and a swapped model are
    each reported."""
    a = align.steps_of(
        [
            _span("A", "r", None, "invoke_agent sup", 0, duration_ms=100),
            _span(
                "A",
                "t",
                "r",
                "execute_tool search",
                1,
                duration_ms=10,
                operation="execute_tool",
                attributes={"gen_ai.tool.call.arguments": '{"city": "Lima"}'},
            ),
            _span("A", "m", "r", "chat gpt-4o", 20, duration_ms=5, operation="chat"),
            _span("A", "x", "r", "execute_tool cancel", 30, operation="execute_tool"),
        ]
    )
    b = align.steps_of(
        [
            _span("B", "r", None, "invoke_agent sup", 0, duration_ms=400),
            _span(
                "B",
                "t",
                "r",
                "execute_tool search",
                1,
                duration_ms=300,
                status="ERROR",
                operation="execute_tool",
                attributes={"gen_ai.tool.call.arguments": '{"city": "Lisbon"}'},
            ),
            _span("B", "m", "r", "chat claude-haiku", 320, duration_ms=5, operation="chat"),
            _span("B", "n", "r", "execute_tool notify", 330, operation="execute_tool"),
        ]
    )
    pairs = align.align(a, b)
    assert [(p.a and p.a.name, p.b and p.b.name, p.differences) for p in pairs] == [
        ("invoke_agent sup", "invoke_agent sup", ["slower in B"]),
        (
            "execute_tool search",
            "execute_tool search",
            ["failed in B, ok in A", "slower in B", "different input"],
        ),
        ("chat gpt-4o", "chat claude-haiku", ["chat gpt-4o in A, chat claude-haiku in B"]),
        (
            "execute_tool cancel",
            "execute_tool notify",
            ["execute_tool cancel in A, execute_tool notify in B"],
        ),
    ]
    assert align.summary(pairs)["outcome"] == 1 and align.summary(pairs)["input"] == 1
    assert align.run_ms(b) == 400.0
    extra = align.align(a[:2], b)
    assert [p.differences[-1] for p in extra[2:]] == ["added in B", "added in B"]
    fewer = align.align(a, b[:1])
    assert [p.differences for p in fewer[1:]] == [["missing in B"]] * 3


def test_layered_layout_puts_callers_left_and_groups_in_bands() -> None:
    """Each agent sits one layer right of its furthest caller; a cycle is broken at its
    lightest edge; separate groups get separate bands; a hub that sends requests and gets
    replies stays left of its specialists; 30 agents get 30 distinct places."""
    weight = {
        ("intake", "extraction"): 6.0,
        ("extraction", "procurement"): 6.0,
        ("procurement", "intake"): 1.0,  # on hold: the light edge back
        ("sup", "flight"): 4.0,
        ("sup", "hotel"): 4.0,
    }
    pos = layered_layout([], list(weight), weight)
    assert [pos[a][0] for a in ("intake", "extraction", "procurement")] == [0.0, 1.0, 2.0]
    assert pos["sup"][0] == 0.0 and pos["flight"][0] == pos["hotel"][0] == 1.0
    band = {a: pos[a][1] for a in pos}
    chain = {band[a] for a in ("intake", "extraction", "procurement")}
    assert max(chain) < min(band["flight"], band["hotel"]) or min(chain) > max(
        band["flight"], band["hotel"]
    )
    hub = {("hub", f"s{i}"): 2.0 for i in range(5)} | {(f"s{i}", "hub"): 3.0 for i in range(5)}
    around = layered_layout([], list(hub), hub)
    assert around["hub"][0] == 0.0 and {around[f"s{i}"][0] for i in range(5)} == {1.0}
    many = [f"agent{i:02d}" for i in range(30)]
    edges = [(many[i], many[(i * 7 + 3) % 30]) for i in range(30)]
    spread = layered_layout(many, edges)
    assert len(set(spread.values())) == 30


def test_inputs_and_outputs_are_read_from_any_convention() -> None:
    """A normalised column wins; else semtrace's, the GenAI or OpenInference attributes;
    JSON text is parsed; chat messages read as their text."""
    assert span_input({"input": '{"a": 1}', "attributes": {"input.value": "x"}}) == {"a": 1}
    assert span_input({"attributes": '{"input.value": "hello"}'}) == "hello"
    messages = [{"role": "assistant", "parts": [{"type": "text", "content": "Rebooked."}]}]
    span = {"attributes": {"gen_ai.output.messages": messages}}
    assert span_output(span) == messages
    assert as_text(span_output(span)) == "Rebooked."
    assert span_output({"attributes": {}}) is None
    assert as_text({"k": "v" * 500}, limit=20).endswith("…")
