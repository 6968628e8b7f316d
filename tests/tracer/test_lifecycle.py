"""The one span lifecycle (start, attach, run, record failure, detach, end) that every
semtrace span around user code goes through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from semtrace import semconv as sc
from semtrace.testing import capture
from semtrace.tracer._context import current_agent
from semtrace.tracer._failures import CallInfo
from semtrace.tracer._lifecycle import start_span

SRC = Path(__file__).resolve().parents[2] / "src" / "semtrace"
_BY_HAND = {"otel_context.attach", "otel_context.detach", "_failures.record_failure"}


def test_block_runs_in_the_span_and_a_failure_is_recorded_then_the_context_restored() -> None:
    """Inside the block the span and the agent are current; a raise ends the span in ERROR
    with the sentence, the exception event and error.type, and the outer context returns."""
    with capture() as cap:
        outer = trace.get_current_span()
        active = start_span(
            "execute_tool lookup",
            CallInfo(role="tool", name="lookup", agent="procurement"),
            kind=SpanKind.CLIENT,
            agent="procurement",
        )
        with pytest.raises(KeyError), active as span:
            assert trace.get_current_span() is span
            assert current_agent() == "procurement"
            raise KeyError("last_updated")
        assert trace.get_current_span() is outer
        assert current_agent() is None
    (done,) = cap.spans()
    assert done.name == "execute_tool lookup"
    assert done.kind == "CLIENT"
    assert done.scope_name == "semtrace"
    assert done.status_code == "ERROR"
    assert done.status_message.startswith("The procurement agent's tool lookup failed")
    assert done.attributes[sc.ERROR_TYPE] == "KeyError"
    assert [e.name for e in done.events] == ["exception"]


def test_on_failure_runs_after_the_generic_record_so_its_attributes_win() -> None:
    """A protocol-specific error.type (an MCP JSON-RPC code) replaces the generic one."""

    def code(span: trace.Span, exc: BaseException) -> None:
        span.set_attribute(sc.ERROR_TYPE, "-32603")

    with (
        capture() as cap,
        pytest.raises(RuntimeError),
        start_span("call", CallInfo("MCP request", "x"), on_failure=code),
    ):
        raise RuntimeError("boom")
    (done,) = cap.spans()
    assert done.attributes[sc.ERROR_TYPE] == "-32603"


def test_split_use_attaches_per_piece_of_work_and_ends_once() -> None:
    """A span that outlives one block (a generator, a task) is made current for each piece
    of work, nested attaches unwind in order, and a stray detach changes nothing."""
    with capture() as cap:
        outer = trace.get_current_span()
        active = start_span("task review", CallInfo("task", "review"))
        active.detach()  # nothing attached: no-op
        active.attach()
        with active.activated() as span:
            assert trace.get_current_span() is span
        assert trace.get_current_span() is active.span
        active.detach()
        assert trace.get_current_span() is outer
        assert cap.spans() == []  # still open
        active.end()
    (done,) = cap.spans()
    assert done.status_code == "UNSET"


@pytest.mark.parametrize(
    "module",
    [
        "tracer/decorators.py",
        "tracer/propagation.py",
        "tracer/mcp.py",
        "tracer/tasks.py",
        "integrations/_genai.py",
    ],
)
def test_span_makers_go_through_the_one_lifecycle(module: str) -> None:
    """No module that traces user code attaches contexts, records failures or starts spans
    by hand: the lifecycle lives in tracer/_lifecycle.py only."""
    tree = ast.parse((SRC / module).read_text())
    by_hand = sorted(
        {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and (
                node.func.attr == "start_span"  # on any tracer
                or ast.unparse(node.func) in _BY_HAND
            )
        }
    )
    assert by_hand == []
