"""The answer book: answers to tasks waiting for a human, kept in the ``task_answers`` table.

Whoever writes the file (the owner, or an embedded writer) runs these against its
:class:`~semtrace.store.database.Store`:

- :func:`give` records an answer (or a request to cancel) after checking, against the
  ``tasks`` view, that the task waits in ``input_required`` and has no answer since it began
  waiting; it returns only once the row is committed, so an acknowledged answer survives a
  crash of the writer. A refusal is :class:`AnswerRefused`, saying why.
- :func:`take` hands the waiting agent the answers it has not taken yet; :func:`settle`
  marks one delivered (with what the agent did with it) and replaces the answer by its
  redacted form. Until it is settled an answer is handed out again, so an agent that died
  before applying it gets it when it re-attaches; once settled, never again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pyarrow as pa

from semtrace.redaction import get_redactor
from semtrace.store import queries
from semtrace.store.database import Store
from semtrace.store.schema import TASK_ANSWERS, TASK_ANSWERS_TABLE

__all__ = [
    "ANSWER_PATH",
    "SETTLE_PATH",
    "STATE_PATH",
    "TAKE_PATH",
    "AnswerRefused",
    "Given",
    "Kind",
    "give",
    "settle",
    "take",
]

# The owner's routes to its answer book (semtrace.collector.answers serves them).
ANSWER_PATH = "/v1/tasks/answer"
TAKE_PATH = "/v1/tasks/take"
SETTLE_PATH = "/v1/tasks/settle"
STATE_PATH = "/v1/tasks/state"

Kind = Literal["answer", "cancel"]
DECISIONS = frozenset({"approve", "reject"})
_TERMINAL = frozenset({"completed", "failed", "cancelled"})
# One check-then-write at a time per process (the one writer of the file): of two answers
# racing for one task one wins, and an answer is settled once.
_LOCK = threading.Lock()


class AnswerRefused(Exception):
    """The answer was not recorded: the task is unknown, not waiting, or already answered.

    ``status`` is the HTTP status an owner answers with (404 unknown, 409 otherwise)."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Given:
    """A recorded answer: its id and time, and the task it went to."""

    answer_id: str
    task_id: str
    kind: str
    answered_at: datetime
    task_name: str | None
    agent_name: str | None
    trace_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "answer_id": self.answer_id,
            "task_id": self.task_id,
            "kind": self.kind,
            "answered_at": self.answered_at.isoformat(),
            "task_name": self.task_name,
            "agent_name": self.agent_name,
            "trace_id": self.trace_id,
        }


def _refusal(task_id: str, state: dict[str, Any] | None, kind: Kind) -> str | None:
    if state is None:
        return (
            f"no task {task_id!r} is known in this database (its agent records it once it "
            "starts; `semtrace tasks list` shows the tasks waiting)"
        )
    status = state["status"]
    since = state["since"].isoformat(timespec="seconds") if state.get("since") else "?"
    if status in _TERMINAL:
        return f"the task {task_id} is already {status} (since {since}); it takes no more input"
    if status != "input_required":
        what = "answered" if kind == "answer" else "cancelled from another process"
        return (
            f"the task {task_id} is {status}, not waiting for input: only a task in "
            f"input_required can be {what}"
        )
    return None


def give(
    store: Store,
    task_id: str,
    *,
    kind: Kind = "answer",
    answer: Any = None,
    decision: str | None = None,
    by: str | None = None,
) -> Given:
    """Record ``answer`` (or, with ``kind="cancel"``, a request to cancel) for a task waiting
    in ``input_required``; :class:`AnswerRefused` when it cannot be taken."""
    if kind not in ("answer", "cancel"):
        raise ValueError(f"kind must be 'answer' or 'cancel', not {kind!r}")
    if decision is not None and decision not in DECISIONS:
        raise ValueError(f"decision must be one of {sorted(DECISIONS)} or None, not {decision!r}")
    with _LOCK:
        con = store.cursor()
        try:
            state = queries.task_state(con, task_id)
            refused = _refusal(task_id, state, kind)
            if refused is not None:
                raise AnswerRefused(refused, status=404 if state is None else 409)
            assert state is not None
            earlier = queries.answers_since(con, task_id, state["since"])
        finally:
            con.close()
        if earlier:
            first = earlier[-1]
            who = first["answered_by"] or "someone"
            at = first["answered_at"].isoformat(timespec="seconds")
            taken = "" if first["delivered_at"] else "; its agent has not taken it yet"
            verb = "answered" if first["kind"] == "answer" else "asked to cancel it"
            raise AnswerRefused(
                f"the task {task_id} was already {verb} by {who} at {at}{taken}; "
                "one answer per question"
            )
        given = Given(
            answer_id=uuid.uuid4().hex,
            task_id=task_id,
            kind=kind,
            answered_at=datetime.now(UTC),
            task_name=state.get("name"),
            agent_name=state.get("agent_name"),
            trace_id=state.get("trace_id"),
        )
        row = {
            "answer_id": given.answer_id,
            "task_id": task_id,
            "kind": kind,
            "decision": decision,
            "answer": orjson.dumps(answer, default=str).decode(),
            "answered_by": get_redactor().redact_repeated(by) if by else None,
            "answered_at": given.answered_at,
            "trace_id": given.trace_id,
        }
        # append_tables commits before it returns: the answer is durable when we say so.
        store.append_tables([(TASK_ANSWERS, pa.Table.from_pylist([row], TASK_ANSWERS_TABLE.arrow))])
    return given


def take(store: Store, task_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The answers to these tasks not yet settled, oldest first, ``answer`` parsed."""
    if not task_ids:
        return []
    con = store.cursor()
    try:
        rows = queries.pending_answers(con, task_ids).to_pylist()
    finally:
        con.close()
    for row in rows:
        row["answer"] = orjson.loads(row["answer"]) if row["answer"] is not None else None
    return rows


def settle(store: Store, answer_id: str, *, outcome: str, delivered_to: str | None) -> bool:
    """Mark an answer delivered (``outcome``: what the agent did with it) and keep only its
    redacted form; ``False`` when it was settled before (the first settlement stands)."""
    with _LOCK:
        con = store.cursor()  # its own connection: the writer's is shared with ingest
        try:
            row = con.execute(
                f"SELECT answer FROM {TASK_ANSWERS} WHERE answer_id = ? AND delivered_at IS NULL",
                [answer_id],
            ).fetchone()
        finally:
            con.close()
        if row is None:
            return False
        redacted = get_redactor().redact_value(orjson.loads(row[0])) if row[0] else None
        store.execute(
            f"""UPDATE {TASK_ANSWERS} SET delivered_at = now(), delivered_to = ?, outcome = ?,
                       answer = ? WHERE answer_id = ?""",
            [delivered_to, outcome, orjson.dumps(redacted, default=str).decode(), answer_id],
        )
    return True
