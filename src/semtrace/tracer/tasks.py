"""Long-running tasks in the shape of MCP Tasks (2025-11-25): a durable id, a status that only
moves along the allowed transitions, and every change recorded with its time and message.

A task is one span (``task {name}``) that lives from creation to a terminal status. Each
status change is a span event ``mcp.task.status`` (``mcp.task.id``, ``mcp.task.status``,
``mcp.task.status_message``, ``mcp.task.previous_status``), so the ``tasks`` view reads the
same history whether the task ran here or arrived over OTLP. Polls are counted on the span
(``semtrace.task.polls``), never a span per poll. A human answer to ``input_required`` is an
event ``semtrace.task.input`` with who answered and the redacted answer::

    async with semtrace.start_task("compliance review", agent="compliance") as task:
        task.set_status("input_required", "need a human to confirm the vendor")
        answer = await task.wait_for_input()          # someone calls task.provide_input(...)
        ...                                           # leaving the block completes the task

Transitions (MCP Tasks): ``working`` -> ``input_required|completed|failed|cancelled``;
``input_required`` -> ``working|completed|failed|cancelled``; terminal states never change.
A change a terminal task refuses is not an error for the agent (a task cancelled while its
work finishes stays cancelled): it returns ``False`` and is recorded as
``semtrace.task.transition_rejected``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from semtrace import semconv as sc
from semtrace._async_with import AsyncWithFromSync
from semtrace._errors import handle_internal_errors
from semtrace.exceptions import ConfigurationError
from semtrace.redaction import redact_text
from semtrace.store.database import get_open_store
from semtrace.store.model import LogRecord
from semtrace.store.ownership import OwnerUnavailable
from semtrace.store.remote import RemoteWriter
from semtrace.store.resilient import get_writer
from semtrace.tracer import _failures, _inbox
from semtrace.tracer._context import current_agent
from semtrace.tracer._lifecycle import start_span
from semtrace.tracer.setup import STATE, emit_log

__all__ = [
    "ALLOWED_TRANSITIONS",
    "STATUSES",
    "TERMINAL_STATUSES",
    "Task",
    "TaskStatus",
    "TaskStatusChange",
    "current_task",
    "get_task",
    "resume_task",
    "start_task",
]

TaskStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]
STATUSES: Final = ("working", "input_required", "completed", "failed", "cancelled")
TERMINAL_STATUSES: Final = frozenset({"completed", "failed", "cancelled"})
ALLOWED_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "working": frozenset({"input_required", "completed", "failed", "cancelled"}),
    "input_required": frozenset({"working", "completed", "failed", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
MAX_TEXT = 500

_SEVERITY = {"failed": "ERROR", "cancelled": "WARNING"}

TASK_KEY = otel_context.create_key("semtrace-task")
_LIVE: dict[str, Task] = {}  # tasks not yet terminal, by id (bounded by what is running)
_LIVE_LOCK = threading.Lock()


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, tz=UTC).isoformat()


@dataclass(frozen=True, slots=True)
class TaskStatusChange:
    """One entry of a task's history: the status it moved to, when, and why."""

    status: str
    time_ns: int
    message: str | None
    previous: str | None


class Task(AsyncWithFromSync):
    """A long-running task: durable id, status, history, and the span that records them.

    Made by :func:`start_task`. Usable as ``with``/``async with``: the block runs in the
    task's context (spans inside are its children, :func:`current_task` returns it); leaving
    it completes the task, an exception fails it, a cancellation cancels it.
    """

    def __init__(
        self,
        name: str,
        *,
        agent: str | None = None,
        ttl_ms: int | None = None,
        task_id: str | None = None,
        poll_interval_ms: int | None = None,
        attributes: Mapping[str, Any] | None = None,
        parent: otel_context.Context | None = None,
        status: str = "working",
        status_message: str | None = None,
    ) -> None:
        if status not in ALLOWED_TRANSITIONS or status in TERMINAL_STATUSES:
            raise ValueError(f"a task starts working or input_required, not {status!r}")
        self.id: str = task_id or str(uuid.uuid4())
        self.name = name
        self.agent = agent if agent is not None else current_agent(parent)
        self.ttl_ms = ttl_ms
        self.poll_interval_ms = poll_interval_ms
        self.status: str = status
        self.status_message: str | None = status_message
        self.history: list[TaskStatusChange] = []
        self.polls = 0
        self.rejected = 0  # transitions refused (a terminal task cannot change)
        self.answer: Any = None
        self.answered_by: str | None = None
        self.result: Any = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # an answer came, or the task ended
        self._inputs = 0  # answers taken so far (what a blocking wait watches)
        self._watchers = 0  # waits asking the answer book for this task
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        attrs: dict[str, Any] = {
            sc.MCP_TASK_ID: self.id,
            sc.MCP_TASK_STATUS: status,
            sc.SEMTRACE_TASK_NAME: name,
        }
        if ttl_ms is not None:
            attrs[sc.MCP_TASK_TTL_MS] = ttl_ms
        if self.agent is not None:
            attrs[sc.SEMTRACE_AGENT_NAME] = self.agent
        attrs.update(attributes or {})
        self._active = start_span(
            f"task {name}",
            _failures.CallInfo(role="task", name=name, agent=self.agent),
            parent=parent if parent is not None else otel_context.get_current(),
            attributes=attrs,
            agent=self.agent,
        )
        self._active.context = otel_context.set_value(TASK_KEY, self, self._active.context)
        self.span: Span = self._active.span
        self.created_ns: int = time.time_ns()
        self.last_updated_ns: int = self.created_ns
        self._record(status, status_message, None, self.created_ns)
        with _LIVE_LOCK:
            _LIVE[self.id] = self

    # -- state -------------------------------------------------------------------------------
    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ns / 1e9, tz=UTC)

    @property
    def last_updated_at(self) -> datetime:
        return datetime.fromtimestamp(self.last_updated_ns / 1e9, tz=UTC)

    def _record(self, status: str, message: str | None, previous: str | None, now: int) -> None:
        self.history.append(TaskStatusChange(status, now, message, previous))
        attrs: dict[str, Any] = {sc.MCP_TASK_ID: self.id, sc.MCP_TASK_STATUS: status}
        if message is not None:
            attrs[sc.MCP_TASK_STATUS_MESSAGE] = message
        if previous is not None:
            attrs[sc.MCP_TASK_PREVIOUS_STATUS] = previous
        with handle_internal_errors("task status event"):
            self.span.add_event(sc.MCP_TASK_EVENT, attrs, timestamp=now)
            self.span.set_attribute(sc.MCP_TASK_STATUS, status)
            if message is not None:
                self.span.set_attribute(sc.MCP_TASK_STATUS_MESSAGE, message)
        whose = f"The {self.agent} agent's task" if self.agent else "The task"
        said = f": {message}" if message else ""
        self._log(
            sc.MCP_TASK_EVENT,
            f"{whose} {self.name} is now {status}{said}",
            f"{whose} {{task}} is now {status}",
            attrs,
            now,
            _SEVERITY.get(status, "INFO"),
        )

    def _log(
        self,
        event: str,
        sentence: str,
        template: str,
        attrs: Mapping[str, Any],
        now: int,
        severity: str = "INFO",
    ) -> None:
        """The same change as a semantic log record: written at once, so a task that is
        still running (waiting on a human, say) is visible before its span ends."""
        with handle_internal_errors("task log"):
            ctx = self.span.get_span_context()
            settings = STATE.settings
            emit_log(
                LogRecord(
                    time_ns=now,
                    message=sentence,
                    template=template,
                    severity=severity,
                    event_name=event,
                    trace_id=format(ctx.trace_id, "032x") if ctx.is_valid else None,
                    span_id=format(ctx.span_id, "016x") if ctx.is_valid else None,
                    agent_name=self.agent,
                    service_name=settings.service_name if settings is not None else None,
                    logger_name="semtrace.tasks",
                    attributes={**attrs, sc.SEMTRACE_TASK_NAME: self.name},
                )
            )

    def _reject(self, requested: str, why: str) -> bool:
        # The task span has ended once the task is terminal: the refusal goes on the span of
        # the code that asked for it instead, if there is one.
        span = self.span if self.span.is_recording() else trace.get_current_span()
        self.rejected += 1
        if not span.is_recording():
            return False
        with handle_internal_errors("task rejected transition"):
            span.add_event(
                sc.SEMTRACE_TASK_REJECTED_EVENT,
                {
                    sc.MCP_TASK_ID: self.id,
                    sc.MCP_TASK_STATUS: self.status,
                    sc.SEMTRACE_TASK_REQUESTED_STATUS: requested,
                    sc.MCP_TASK_STATUS_MESSAGE: why,
                },
            )
        return False

    def set_status(self, status: str, message: str | None = None) -> bool:
        """Move to ``status`` (with a status message); ``False`` if the transition is not
        allowed (the task is terminal). An unknown status name raises ``ValueError``.

        Repeating the current non-terminal status updates its message (recorded as well).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown task status {status!r}; expected one of {STATUSES}")
        with self._lock:
            previous = self.status
            if status != previous and status not in ALLOWED_TRANSITIONS[previous]:
                return self._reject(
                    status, f"a task in {previous} cannot move to {status}; it stays {previous}"
                )
            if previous in TERMINAL_STATUSES:
                return self._reject(status, f"the task is already {previous}")
            now = time.time_ns()
            self.status = status
            self.status_message = message
            self.last_updated_ns = now
            self._record(status, message, previous, now)
            if status in TERMINAL_STATUSES:
                self._finish(now)
        return True

    def _finish(self, now: int) -> None:
        with _LIVE_LOCK:
            _LIVE.pop(self.id, None)
        with handle_internal_errors("task end"):
            self.span.set_attribute(sc.SEMTRACE_TASK_POLLS, self.polls)
            if self.status == "failed" and self.span.is_recording():
                self.span.set_status(Status(StatusCode.ERROR, self.status_message))
            self._active.end(end_time=now)
        self._changed.notify_all()
        self._release_waiters(asyncio.CancelledError(f"the task is {self.status}"))

    def provide_input(
        self, answer: Any, *, by: str | None = None, at_ns: int | None = None
    ) -> bool:
        """Record the (human) answer to ``input_required`` and go back to ``working``.

        Who answered and when (``at_ns``, default now) are recorded; the answer is stored
        redacted. ``False`` when the task is not waiting for input.
        """
        with self._lock:
            if self.status != "input_required":
                return self._reject("working", f"input was provided while {self.status}")
            now = time.time_ns()
            at = min(at_ns, now) if at_ns is not None else now
            self.answer = answer
            self.answered_by = by
            attrs: dict[str, Any] = {
                sc.MCP_TASK_ID: self.id,
                sc.SEMTRACE_TASK_ANSWER: redact_text(_short(answer)),
            }
            if by is not None:
                attrs[sc.SEMTRACE_TASK_ANSWERED_BY] = by
                self.span.set_attribute(sc.SEMTRACE_TASK_ANSWERED_BY, by)
            with handle_internal_errors("task input event"):
                self.span.add_event(sc.SEMTRACE_TASK_INPUT_EVENT, attrs, timestamp=at)
            waited = _duration_text(max(0, at - self.last_updated_ns) / 1e9)
            self._log(
                sc.SEMTRACE_TASK_INPUT_EVENT,
                f"{by or 'Someone'} answered the task {self.name} after {waited}",
                "{by} answered the task {task} after {waited}",
                attrs,
                at,
            )
            self.set_status("working", f"input provided by {by}" if by else "input provided")
            self._inputs += 1
            self._changed.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_set_result, fut, answer)
        return True

    def apply_answer(self, row: Mapping[str, Any]) -> str:
        """Take an answer (or a request to cancel) from the answer book; returns what became
        of it (``delivered``, ``cancelled``, or ``refused: ...`` when the task was no longer
        waiting)."""
        answer = _inbox.answer_from_row(dict(row))
        at = answer.answered_at
        at_ns = int(at.timestamp() * 1e9) if at is not None else None
        if row.get("kind") == "cancel":
            reason = f": {answer}" if answer.value else ""
            done = self.cancel(f"cancelled by {answer.by or 'someone'} while waiting{reason}")
            return "cancelled" if done else f"refused: the task was already {self.status}"
        if self.provide_input(answer, by=answer.by, at_ns=at_ns):
            return "delivered"
        return f"refused: the task was {self.status}, not waiting for input"

    def _watch(self, on: bool) -> None:
        """Count a wait in (or out); the poller asks the answer book while any wait runs."""
        with self._lock:
            self._watchers += 1 if on else -1
            first, last = on and self._watchers == 1, not on and self._watchers == 0
        if first:
            _POLLER.watch(self)
        elif last:
            _POLLER.unwatch(self)

    def _timed_out(self, timeout: float) -> TimeoutError:
        message = f"no answer came within {timeout:g} s"
        self.fail(message)
        return TimeoutError(f"the task {self.name} ({self.id}) failed: {message}")

    async def wait_for_input(self, timeout: float | None = None) -> Any:
        """Wait (asynchronously) for the answer to ``input_required``, given in this process
        (:meth:`provide_input`) or in another one (the Inbox, ``semtrace tasks answer``).

        Raises ``asyncio.CancelledError`` if the task ends (cancelled, failed) meanwhile; past
        ``timeout`` seconds the task fails and ``TimeoutError`` is raised.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self.is_terminal:
                raise asyncio.CancelledError(f"the task is {self.status}")
            self._waiters.append((loop, fut))
        self._watch(True)
        try:
            if timeout is None:
                return await fut
            try:
                return await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise self._timed_out(timeout) from None
        finally:
            self._watch(False)

    def wait_for_input_sync(self, timeout: float | None = None) -> Any:
        """:meth:`wait_for_input` for synchronous code: blocks this thread until the answer
        comes (same errors)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self.is_terminal:
                raise asyncio.CancelledError(f"the task is {self.status}")
            seen = self._inputs
        self._watch(True)
        try:
            with self._changed:
                while self._inputs == seen and not self.is_terminal:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._changed.wait(left)
                if self._inputs != seen:
                    return self.answer
                if self.is_terminal:
                    raise asyncio.CancelledError(f"the task is {self.status}")
        finally:
            self._watch(False)
        assert timeout is not None
        raise self._timed_out(timeout)

    def _release_waiters(self, exc: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_set_exception, fut, exc)

    def complete(self, result: Any = None, message: str | None = None) -> bool:
        """Finish successfully; the result is summarised (redacted) on the span."""
        with self._lock:
            if not self.is_terminal:
                self.result = result
                if result is not None:
                    with handle_internal_errors("task result"):
                        self.span.set_attribute(sc.SEMTRACE_OUTPUT, redact_text(_short(result)))
            return self.set_status("completed", message)

    def fail(self, message: str) -> bool:
        """Finish with a failure; ``message`` says what went wrong (the span's ERROR text)."""
        return self.set_status("failed", message)

    def cancel(self, message: str | None = None) -> bool:
        """Finish as cancelled (``False`` if the task already finished)."""
        return self.set_status("cancelled", message)

    def record_poll(self, status: str | None = None, message: str | None = None) -> None:
        """Count one poll of the task; with ``status``, follow what the poll reported (for a
        task that runs elsewhere, e.g. on an MCP server)."""
        with self._lock:
            self.polls += 1
            with handle_internal_errors("task poll"):
                self.span.set_attribute(sc.SEMTRACE_TASK_POLLS, self.polls)
            changed = status != self.status or message != self.status_message
            if status in STATUSES and changed and not self.is_terminal:
                self.set_status(status, message)

    # -- context -----------------------------------------------------------------------------
    def context(self) -> otel_context.Context:
        """The OpenTelemetry context of the task (its span, itself, its agent)."""
        return self._active.context

    @contextmanager
    def activate(self) -> Iterator[Task]:
        """Run a block in the task's context without finishing the task afterwards."""
        with self._active.activated():
            yield self

    def to_mcp(self) -> dict[str, Any]:
        """The task in the MCP ``Task`` shape (``taskId``, ``status``, ``createdAt``, ...)."""
        data: dict[str, Any] = {
            "taskId": self.id,
            "status": self.status,
            "createdAt": _iso(self.created_ns),
            "lastUpdatedAt": _iso(self.last_updated_ns),
            "ttl": self.ttl_ms,
        }
        if self.status_message is not None:
            data["statusMessage"] = self.status_message
        if self.poll_interval_ms is not None:
            data["pollInterval"] = self.poll_interval_ms
        return data

    def __repr__(self) -> str:
        return f"<Task {self.name!r} id={self.id} status={self.status}>"

    # -- with / async with -------------------------------------------------------------------
    def __enter__(self) -> Task:
        self._active.attach()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active.detach()
        if exc is None:
            if not self.is_terminal:
                self.complete()
            return
        if isinstance(exc, GeneratorExit):
            self.cancel("the block was closed before the task finished")
            return
        sentence = _failures.exception_sentence(self._active.call, exc)
        if not self.is_terminal:
            self._active.fail(exc)
        if isinstance(exc, asyncio.CancelledError):
            self.cancel(sentence)
        else:
            self.fail(sentence)


def _duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _set_result(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def start_task(
    name: str,
    *,
    agent: str | None = None,
    ttl_ms: int | None = None,
    task_id: str | None = None,
    poll_interval_ms: int | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Task:
    """Start a long-running task (status ``working``), a child of the current span.

    ``task_id`` keeps an id made elsewhere (an MCP server's ``taskId``); otherwise a UUID is
    made. ``ttl_ms`` is the retention from creation (``None`` = unlimited), as in MCP.
    """
    if not name:
        raise ValueError("start_task() needs a name saying what the task does")
    return Task(
        name,
        agent=agent,
        ttl_ms=ttl_ms,
        task_id=task_id,
        poll_interval_ms=poll_interval_ms,
        attributes=attributes,
    )


def _book() -> _inbox.Book | None:
    """The answer book of the configured database: in this process when it writes the file,
    else through the owner that serves it; ``None`` before ``configure()``."""
    settings = STATE.settings
    if settings is None:
        return None
    writer = get_writer(settings.db)
    if isinstance(writer, RemoteWriter):  # the same owner this process's telemetry goes to
        try:
            target = writer.resolve()
        except OwnerUnavailable as exc:
            raise _inbox.BookUnavailable(str(exc)) from None
        return _inbox.OwnerBook(target.url, target.token)
    store = get_open_store(settings.db)
    return _inbox.StoreBook(store) if store is not None else None


_POLLER = _inbox.Poller(_book)


def resume_task(task_id: str, *, name: str | None = None, agent: str | None = None) -> Task:
    """Re-attach to a task started earlier (by a process that has since stopped, say): a new
    :class:`Task` with the same id, in the status the database has for it, so
    :meth:`Task.wait_for_input` gets an answer given meanwhile.

    Raises ``LookupError`` for a task the database does not know and ``ValueError`` for one
    that has already finished.
    """
    with _LIVE_LOCK:
        live = _LIVE.get(task_id)
    if live is not None:
        return live
    book = _book()
    if book is None:
        raise ConfigurationError(
            "resume_task() reads the task from its database: call semtrace.configure() first"
        )
    state = book.state(task_id)
    if state is None:
        raise LookupError(f"no task {task_id!r} in the database; `semtrace tasks list` shows them")
    if state["status"] in TERMINAL_STATUSES:
        raise ValueError(f"the task {task_id} is already {state['status']}; nothing to resume")
    return Task(
        name or state.get("name") or "task",
        task_id=task_id,
        agent=agent or state.get("agent_name"),
        status=state["status"],
        status_message=state.get("status_message"),
    )


def current_task(ctx: otel_context.Context | None = None) -> Task | None:
    """The task whose code is running (inside ``with task`` or ``task.activate()``), if any."""
    value = otel_context.get_value(TASK_KEY, ctx)
    return value if isinstance(value, Task) else None


def get_task(task_id: str) -> Task | None:
    """A task of this process that has not finished yet, by id (to answer it from elsewhere)."""
    with _LIVE_LOCK:
        return _LIVE.get(task_id)
