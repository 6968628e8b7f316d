"""How answers reach a task waiting in this process: the answer book, and its poller.

The answer book (:mod:`semtrace.store.answers`) lives with whoever writes the database file.
A :class:`Book` reaches it: :class:`StoreBook` when this process writes the file itself
(embedded mode), :class:`OwnerBook` over HTTP when an owner serves it (the collector's
``/v1/tasks/*`` routes). While a task waits, the :class:`Poller` thread asks the book for
answers to it every ``SEMTRACE_INBOX_POLL_S`` seconds (0.5 by default), hands each to the
task, and settles it in the book only after the task took it: an answer is applied once,
and one that a dead agent never applied is handed to the process that re-attaches.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson

from semtrace.store import answers, queries
from semtrace.store.answers import ANSWER_PATH, SETTLE_PATH, STATE_PATH, TAKE_PATH
from semtrace.store.database import Store

__all__ = [
    "ENV_POLL_S",
    "Answer",
    "Book",
    "BookUnavailable",
    "OwnerBook",
    "Poller",
    "StoreBook",
    "Waiting",
]

ENV_POLL_S = "SEMTRACE_INBOX_POLL_S"

_log = logging.getLogger("semtrace.tasks")


class Answer(str):
    """An answer given from another process: its text (a ``str``), plus who gave it, when,
    and the decision when it was an approval or a rejection.

    ``value`` is the answer as given (text, or a form's values)."""

    decision: str | None
    by: str | None
    answered_at: datetime | None
    answer_id: str | None
    value: Any

    def __new__(
        cls,
        value: Any,
        *,
        decision: str | None = None,
        by: str | None = None,
        answered_at: datetime | None = None,
        answer_id: str | None = None,
    ) -> Answer:
        if value is None or value == "":
            text = decision or ""
        else:
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
        self = super().__new__(cls, text)
        self.decision = decision
        self.by = by
        self.answered_at = answered_at
        self.answer_id = answer_id
        self.value = value
        return self

    @property
    def approved(self) -> bool:
        return self.decision == "approve"

    @property
    def rejected(self) -> bool:
        return self.decision == "reject"


class BookUnavailable(Exception):
    """The answer book cannot be reached now (no owner answers, the file is held...)."""


class Book(Protocol):
    """Where answers are kept: the writer of the database file, reached one way or another."""

    def give(
        self, task_id: str, *, kind: str, answer: Any, decision: str | None, by: str | None
    ) -> dict[str, Any]: ...

    def take(self, task_ids: list[str]) -> list[dict[str, Any]]: ...

    def settle(self, answer_id: str, *, outcome: str, delivered_to: str) -> bool: ...

    def state(self, task_id: str) -> dict[str, Any] | None: ...


class StoreBook:
    """The book of a file this process writes itself."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def give(
        self, task_id: str, *, kind: str, answer: Any, decision: str | None, by: str | None
    ) -> dict[str, Any]:
        given = answers.give(
            self.store,
            task_id,
            kind="cancel" if kind == "cancel" else "answer",
            answer=answer,
            decision=decision,
            by=by,
        )
        return given.to_json()

    def take(self, task_ids: list[str]) -> list[dict[str, Any]]:
        return answers.take(self.store, task_ids)

    def settle(self, answer_id: str, *, outcome: str, delivered_to: str) -> bool:
        return answers.settle(self.store, answer_id, outcome=outcome, delivered_to=delivered_to)

    def state(self, task_id: str) -> dict[str, Any] | None:
        con = self.store.cursor()
        try:
            return queries.task_state(con, task_id)
        finally:
            con.close()


class OwnerBook:
    """The book of a file an owner serves, through its ``/v1/tasks/*`` routes."""

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def _post(self, path: str, doc: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url + path, data=orjson.dumps(doc, default=str), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return orjson.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            message = _error_message(exc.read()) or f"HTTP {exc.code}"
            if exc.code in (404, 409) and path == ANSWER_PATH:
                raise answers.AnswerRefused(message, status=exc.code) from None
            raise BookUnavailable(f"the owner at {self.url} answered: {message}") from None
        except OSError as exc:
            raise BookUnavailable(f"the owner at {self.url} cannot be reached: {exc}") from None

    def give(
        self, task_id: str, *, kind: str, answer: Any, decision: str | None, by: str | None
    ) -> dict[str, Any]:
        doc = {"task_id": task_id, "kind": kind, "answer": answer, "decision": decision, "by": by}
        return dict(self._post(ANSWER_PATH, doc))

    def take(self, task_ids: list[str]) -> list[dict[str, Any]]:
        rows = self._post(TAKE_PATH, {"task_ids": task_ids})["answers"]
        for row in rows:
            if row.get("answered_at"):
                row["answered_at"] = datetime.fromisoformat(row["answered_at"])
        return list(rows)

    def settle(self, answer_id: str, *, outcome: str, delivered_to: str) -> bool:
        doc = {"answer_id": answer_id, "outcome": outcome, "delivered_to": delivered_to}
        return bool(self._post(SETTLE_PATH, doc)["settled"])

    def state(self, task_id: str) -> dict[str, Any] | None:
        found = self._post(STATE_PATH, {"task_id": task_id})["task"]
        if found and found.get("since"):
            found["since"] = datetime.fromisoformat(found["since"])
        return found if found else None


def _error_message(body: bytes) -> str | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")[:300] or None
    return str(doc.get("message")) if isinstance(doc, dict) and doc.get("message") else None


def answer_from_row(row: dict[str, Any]) -> Answer:
    """The :class:`Answer` a book row stands for."""
    return Answer(
        row.get("answer"),
        decision=row.get("decision"),
        by=row.get("answered_by"),
        answered_at=row.get("answered_at"),
        answer_id=row.get("answer_id"),
    )


class Waiting(Protocol):
    """A task the poller asks answers for (:class:`semtrace.tracer.tasks.Task`)."""

    id: str
    status: str

    def apply_answer(self, row: dict[str, Any]) -> str: ...


def _poll_interval() -> float:
    try:
        return max(0.01, float(os.environ.get(ENV_POLL_S, "0.5")))
    except ValueError:
        return 0.5


class Poller:
    """One thread per process asking the book for answers to the tasks that wait here."""

    def __init__(self, book_for: Callable[[], Book | None]) -> None:
        self._book_for = book_for
        self._waiting: dict[str, Waiting] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.delivered_to = f"pid {os.getpid()} on {socket.gethostname()}"
        self.errors = 0  # polls that could not reach the book
        self._unsettled: dict[str, str] = {}  # answer id -> outcome, applied but not settled

    def watch(self, task: Waiting) -> None:
        """Ask for answers to ``task`` until :meth:`unwatch` (a no-op without a book)."""
        with self._cond:
            self._waiting[task.id] = task
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="semtrace-inbox", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def unwatch(self, task: Waiting) -> None:
        with self._cond:
            if self._waiting.get(task.id) is task:
                del self._waiting[task.id]

    def poll_now(self) -> None:
        """Ask the book once, now (the thread does it every interval)."""
        with self._cond:
            tasks = {i: t for i, t in self._waiting.items() if t.status == "input_required"}
            unsettled = dict(self._unsettled)
        if not tasks and not unsettled:
            return
        try:
            book = self._book_for()
            if book is None:
                return
            for answer_id, outcome in unsettled.items():
                self._settle(book, answer_id, outcome)
            if not tasks:
                return
            rows = book.take(list(tasks))
        except BookUnavailable as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                _log.warning("semtrace: cannot fetch answers to waiting tasks: %s", exc)
            return
        seen: set[str] = set()
        for row in rows:
            task = tasks.get(row["task_id"])
            if task is None or row["task_id"] in seen:
                continue  # one answer per task per poll: the next question gets the next one
            seen.add(row["task_id"])
            self._settle(book, row["answer_id"], task.apply_answer(row))

    def _settle(self, book: Book, answer_id: str, outcome: str) -> None:
        """Tell the book the answer was taken; kept and retried at each poll until it
        listens (the task left input_required meanwhile, so it is not taken twice here)."""
        try:
            book.settle(answer_id, outcome=outcome, delivered_to=self.delivered_to)
        except BookUnavailable as exc:
            with self._cond:
                self._unsettled[answer_id] = outcome
                self._cond.notify_all()
            _log.warning("semtrace: answer %s taken, not settled yet: %s", answer_id, exc)
            return
        with self._cond:
            self._unsettled.pop(answer_id, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._unsettled:
                    self._cond.wait()
            try:
                self.poll_now()
            except Exception:  # the poller must outlive any surprise; tests see it logged
                _log.exception("semtrace: the inbox poller failed")
            with self._cond:
                self._cond.wait(_poll_interval())
