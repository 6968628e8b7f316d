"""Two runs side by side, step by step: which steps one run had and the other did not, how
their durations differ, and where outcomes, inputs or outputs differ.

A step is a span, named by its path from the root (``invoke_agent supervisor / execute_tool
search``), so the same step is recognised in both runs even when the runs took different
detours. The two sequences of steps (depth first, siblings in start order) are aligned like
two texts are diffed; steps that line up are compared field by field.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from semtrace.dashboard.content import span_input, span_output

__all__ = ["Pair", "Step", "align", "run_ms", "steps_of", "summary"]

SLOWER = 1.5  # a step this many times slower (or faster) is flagged ...
AT_LEAST_MS = 5.0  # ... when the difference is at least this long


@dataclass(frozen=True)
class Step:
    """One span as a step of a run."""

    path: tuple[str, ...]
    name: str
    depth: int
    trace_id: str
    span_id: str
    agent: str | None
    operation: str | None
    duration_ms: float
    status: str
    start_ns: int = 0
    end_ns: int = 0
    input: Any = None
    output: Any = None
    message: str | None = None


@dataclass
class Pair:
    """A step of run A and the step of run B it lines up with (None: the other run had no
    such step), and what differs between them."""

    a: Step | None
    b: Step | None
    differences: list[str] = field(default_factory=list)

    @property
    def step(self) -> Step:
        return self.a or self.b  # type: ignore[return-value]

    @property
    def delta_ms(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b.duration_ms - self.a.duration_ms


def steps_of(spans: Iterable[Mapping[str, Any]]) -> list[Step]:
    """The spans of one run (one or more traces, with their attributes) as steps, depth
    first, siblings in start order; traces one after the other in start order."""
    spans = list(spans)
    ids = {(s["trace_id"], s["span_id"]) for s in spans}
    children: dict[tuple[str, str | None], list[Mapping[str, Any]]] = {}
    for s in sorted(spans, key=lambda s: (s["start_time_ns"], s["span_id"])):
        parent = s.get("parent_span_id")
        key = (s["trace_id"], parent if (s["trace_id"], parent) in ids else None)
        children.setdefault(key, []).append(s)
    roots = sorted(
        (s for s in spans if (s["trace_id"], s.get("parent_span_id")) not in ids),
        key=lambda s: (s["start_time_ns"], s["span_id"]),
    )
    out: list[Step] = []
    stack: list[tuple[Mapping[str, Any], tuple[str, ...]]] = [
        (r, (r["name"],)) for r in reversed(roots)
    ]
    while stack:
        span, path = stack.pop()
        out.append(
            Step(
                path=path,
                name=span["name"],
                depth=len(path) - 1,
                trace_id=span["trace_id"],
                span_id=span["span_id"],
                agent=span.get("agent_name"),
                operation=span.get("operation"),
                duration_ms=float(span.get("duration_ms") or 0.0),
                status=str(span.get("status_code") or "UNSET"),
                start_ns=int(span["start_time_ns"]),
                end_ns=int(span.get("end_time_ns") or span["start_time_ns"]),
                input=span_input(span),
                output=span_output(span),
                message=span.get("status_message"),
            )
        )
        kids = children.get((span["trace_id"], span["span_id"]), [])
        stack.extend((k, (*path, k["name"])) for k in reversed(kids))
    return out


def _same(x: Any, y: Any) -> bool:
    def norm(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v

    return norm(x) == norm(y)


def _differences(a: Step, b: Step) -> list[str]:
    out: list[str] = []
    failed_a, failed_b = a.status == "ERROR", b.status == "ERROR"
    if failed_a != failed_b:
        out.append("failed in B, ok in A" if failed_b else "failed in A, ok in B")
    if a.name != b.name:
        out.append(f"{a.name} in A, {b.name} in B")
    longer, shorter = max(a.duration_ms, b.duration_ms), min(a.duration_ms, b.duration_ms)
    if longer - shorter >= AT_LEAST_MS and longer >= SLOWER * max(shorter, 1e-9):
        out.append("slower in B" if b.duration_ms > a.duration_ms else "faster in B")
    if a.input is not None and b.input is not None and not _same(a.input, b.input):
        out.append("different input")
    if a.output is not None and b.output is not None and not _same(a.output, b.output):
        kind = "model output" if (b.operation or "").startswith(("chat", "text")) else "output"
        out.append(f"different {kind}")
    return out


def _pairable(a: Step, b: Step) -> bool:
    return a.depth == b.depth and a.operation == b.operation and a.agent == b.agent


def align(a: Sequence[Step], b: Sequence[Step]) -> list[Pair]:
    """The steps of both runs in one sequence: matched steps paired (with their
    differences), steps only one run had paired with None."""
    matcher = difflib.SequenceMatcher(None, [s.path for s in a], [s.path for s in b], False)
    out: list[Pair] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [Pair(x, y, _differences(x, y)) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
            continue
        left, right = list(a[i1:i2]), list(b[j1:j2])
        # The same kind of step at the same place under another name (a fallback model,
        # another tool) is one step that changed, not one missing and one added.
        while left and right and _pairable(left[0], right[0]):
            x, y = left.pop(0), right.pop(0)
            out.append(Pair(x, y, _differences(x, y)))
        out += [Pair(x, None, ["missing in B"]) for x in left]
        out += [Pair(None, y, ["added in B"]) for y in right]
    return out


def summary(pairs: Sequence[Pair]) -> dict[str, int]:
    """How many steps were added, went missing, changed outcome, input or output."""
    count = {"steps": len(pairs), "added": 0, "missing": 0, "outcome": 0, "input": 0, "output": 0}
    count["slower"] = count["faster"] = 0
    for p in pairs:
        for d in p.differences:
            if d == "added in B":
                count["added"] += 1
            elif d == "missing in B":
                count["missing"] += 1
            elif d.startswith("failed"):
                count["outcome"] += 1
            elif d == "different input":
                count["input"] += 1
            elif d.startswith("different"):
                count["output"] += 1
            elif d == "slower in B":
                count["slower"] += 1
            elif d == "faster in B":
                count["faster"] += 1
    return count


def run_ms(steps: Sequence[Step]) -> float:
    """How long a run took: from its first step's start to its last step's end."""
    if not steps:
        return 0.0
    return (max(s.end_ns for s in steps) - min(s.start_ns for s in steps)) / 1e6
