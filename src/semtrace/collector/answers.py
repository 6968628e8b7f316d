"""The owner's answer book routes (``POST /v1/tasks/*``): answers to tasks waiting for a
human, given from any process and taken by the waiting agent (:mod:`semtrace.store.answers`
does the work on the owner's store; the client side is ``semtrace.tracer._inbox.OwnerBook``).

- ``/v1/tasks/answer`` ``{task_id, kind, answer, decision, by}``: 200 with the recorded
  answer once it is committed; 404 for an unknown task, 409 for one not waiting or already
  answered (the message says which).
- ``/v1/tasks/take`` ``{task_ids}``: the answers to these tasks not settled yet.
- ``/v1/tasks/settle`` ``{answer_id, outcome, delivered_to}``: the agent took it.
- ``/v1/tasks/state`` ``{task_id}``: the task's status in the ``tasks`` view.
"""

from __future__ import annotations

from typing import Any

from semtrace.collector.extensions import HttpError, Request, Response, RouteHandler
from semtrace.store import answers, queries
from semtrace.store.answers import ANSWER_PATH, SETTLE_PATH, STATE_PATH, TAKE_PATH

__all__ = ["ANSWER_ROUTES"]


def _doc(request: Request, *required: str) -> dict[str, Any]:
    doc = request.json()
    if not isinstance(doc, dict) or any(not isinstance(doc.get(k), str) for k in required):
        raise HttpError(400, f"send a JSON object with {', '.join(required)} as strings")
    return doc


def _answer(request: Request) -> Response:
    doc = _doc(request, "task_id")
    kind = doc.get("kind", "answer")
    if kind not in ("answer", "cancel"):
        raise HttpError(400, "kind is answer or cancel")
    try:
        given = answers.give(
            request.collector.store,
            doc["task_id"],
            kind=kind,
            answer=doc.get("answer"),
            decision=doc.get("decision"),
            by=doc.get("by"),
        )
    except answers.AnswerRefused as exc:
        raise HttpError(exc.status, str(exc)) from None
    except ValueError as exc:  # a decision other than approve or reject
        raise HttpError(400, str(exc)) from None
    return Response.json(given.to_json())


def _take(request: Request) -> Response:
    doc = request.json()
    ids = doc.get("task_ids") if isinstance(doc, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise HttpError(400, 'send {"task_ids": ["...", ...]}')
    return Response.json({"answers": answers.take(request.collector.store, ids)})


def _settle(request: Request) -> Response:
    doc = _doc(request, "answer_id", "outcome")
    settled = answers.settle(
        request.collector.store,
        doc["answer_id"],
        outcome=doc["outcome"],
        delivered_to=doc.get("delivered_to"),
    )
    return Response.json({"settled": settled})


def _state(request: Request) -> Response:
    doc = _doc(request, "task_id")
    con = request.collector.store.cursor()
    try:
        from_view = queries.task_state(con, doc["task_id"])
    finally:
        con.close()
    return Response.json({"task": from_view})


ANSWER_ROUTES: list[tuple[str, str, RouteHandler]] = [
    ("POST", ANSWER_PATH, _answer),
    ("POST", TAKE_PATH, _take),
    ("POST", SETTLE_PATH, _settle),
    ("POST", STATE_PATH, _state),
]
