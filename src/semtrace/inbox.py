"""Answer a task waiting for a human from any process: ``answer_task``, ``cancel_task``.

The answer goes to the answer book of the task's database (its owner's, or this process's
when it writes the file), which checks that the task waits in ``input_required`` and has no
answer yet, commits the answer, and only then says yes; the waiting agent takes it at its
next poll and continues::

    semtrace.answer_task(task_id, "Confirmed: ACME Ltd is ACME GmbH", by="alice")
    semtrace.answer_task(task_id, decision="approve", by="alice")
    semtrace.cancel_task(task_id, by="alice")

A refusal raises :class:`AnswerRefused` saying why (unknown task, not waiting, finished,
already answered). :func:`waiting_tasks` lists the tasks waiting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from semtrace._connect import connect, default_db, find_owner
from semtrace.config import ENV_TOKEN
from semtrace.exceptions import ConfigurationError
from semtrace.store import queries
from semtrace.store.answers import AnswerRefused
from semtrace.store.database import get_open_store, open_store, resolve_path
from semtrace.store.ownership import token_for_url
from semtrace.tracer._inbox import Answer, Book, OwnerBook, StoreBook

__all__ = ["Answer", "AnswerRefused", "answer_task", "cancel_task", "waiting_tasks"]


@contextlib.contextmanager
def _book(db: str | os.PathLike[str] | None, url: str | None) -> Iterator[Book]:
    """The answer book of ``db`` for one call: this process's store when it writes the file,
    else the file's owner (started on demand in owner mode, as :func:`semtrace.connect`
    does), else the file opened for this one answer (embedded mode, nobody writing it)."""
    if url is not None:
        yield OwnerBook(url, token_for_url(url) or os.environ.get(ENV_TOKEN))
        return
    path = resolve_path(db) if db is not None else default_db()
    store = get_open_store(path)
    if store is not None:
        yield StoreBook(store)
        return
    ann = find_owner(path)
    if ann is not None:
        yield OwnerBook(ann.url, ann.token)
        return
    if not os.path.exists(path):
        raise ConfigurationError(f"no semtrace database at {path}: no task waits there")
    store = open_store(path)
    try:
        yield StoreBook(store)
    finally:
        store.close()


def waiting_tasks(db: str | os.PathLike[str] | None = None, *, limit: int = 200) -> pa.Table:
    """The tasks waiting for a human in ``db``, longest waiting first (see
    :func:`semtrace.store.queries.waiting_tasks` for the columns)."""
    con = connect(db)
    try:
        return queries.waiting_tasks(con, limit=limit)
    finally:
        con.close()


def answer_task(
    task_id: str,
    answer: Any = None,
    *,
    decision: str | None = None,
    by: str | None = None,
    db: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Answer the task ``task_id`` waiting in ``input_required``: free text (or any JSON
    value), and/or ``decision="approve"``/``"reject"``. ``by`` says who answered (stored
    redacted). ``db`` defaults to the configured database; ``url`` targets an owner directly.

    Returns the recorded answer (``answer_id``, ``answered_at``, the task's name and agent);
    raises :class:`AnswerRefused` when the task cannot take it.
    """
    if answer is None and decision is None:
        raise ValueError("answer_task() needs an answer, a decision (approve/reject), or both")
    with _book(db, url) as book:
        return book.give(task_id, kind="answer", answer=answer, decision=decision, by=by)


def cancel_task(
    task_id: str,
    *,
    by: str | None = None,
    reason: str | None = None,
    db: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """Ask the agent of a task waiting in ``input_required`` to cancel it (the task ends
    ``cancelled``, as MCP's ``tasks/cancel``); :class:`AnswerRefused` when it cannot."""
    with _book(db, url) as book:
        return book.give(task_id, kind="cancel", answer=reason, decision=None, by=by)
