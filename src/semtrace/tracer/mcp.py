"""Trace an MCP client session: tool calls and MCP Tasks, in the MCP semantic conventions.

``instrument_session(session)`` (or ``semtrace.wrap(session)``) replaces, on that session
only, ``call_tool`` and the experimental task methods (``session.experimental``
``call_tool_as_task``, ``get_task``, ``poll_task``, ``get_task_result``, ``cancel_task``,
``list_tasks``) of the ``mcp`` package (1.23 to 1.30):

- each request is a CLIENT span ``{mcp.method.name} {tool}`` with ``mcp.method.name``,
  ``gen_ai.tool.name``, ``gen_ai.operation.name=execute_tool`` (tool calls),
  ``mcp.session.id`` (when known) and ``mcp.task.id``; its W3C context is injected into
  ``params._meta`` (``traceparent``), so an instrumented server continues the trace;
- ``CallToolResult.isError`` gives ``error.type=tool_error``; a JSON-RPC error gives
  ``error.type`` = ``rpc.response.status_code`` = its code; both end the span in ERROR;
- a task made by ``call_tool_as_task`` is followed by a client-side task span
  (:class:`semtrace.tracer.tasks.Task` with the server's ``taskId``): statuses seen by
  ``tasks/get`` polls become its status events, polls are counted on it (no span per poll),
  ``tasks/result`` / ``tasks/cancel`` finish it.

``inbox_elicitation()`` is an elicitation callback for the ``ClientSession``: a question a
server asks (``elicitation/create``, for one of its tasks or not) waits in semtrace's Inbox as
a task in ``input_required``, and what a person answers there (the dashboard, ``semtrace
tasks answer``) goes back to the server as the elicitation's result.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors
from semtrace.tracer import _failures
from semtrace.tracer._context import current_agent
from semtrace.tracer._lifecycle import start_span
from semtrace.tracer.propagation import inject
from semtrace.tracer.tasks import Task, get_task

__all__ = ["inbox_elicitation", "instrument_session"]

_MARK = "_semtrace_mcp"


class _SessionTracing:
    """What semtrace keeps per instrumented session: its id and the tasks it follows."""

    def __init__(self, session_id: str | None) -> None:
        self.session_id = session_id
        self.tasks: dict[str, Task] = {}


def _error_code(exc: BaseException) -> int | None:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None


def _tool_error_text(result: Any) -> str:
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        if isinstance(text, str) and text:
            return text
    return "the tool reported an error"


@asynccontextmanager
async def _rpc_span(
    state: _SessionTracing,
    method: str,
    target: str | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> AsyncIterator[tuple[Span, dict[str, Any]]]:
    """A CLIENT span for one MCP request; yields it and the ``_meta`` to send (traceparent in)."""
    attrs: dict[str, Any] = {sc.MCP_METHOD_NAME: method}
    if state.session_id is not None:
        attrs[sc.MCP_SESSION_ID] = state.session_id
    agent = current_agent()
    if agent is not None:
        attrs[sc.SEMTRACE_AGENT_NAME] = agent
    attrs.update(attributes or {})
    name = f"{method} {target}" if target else method
    active = start_span(
        name,
        _failures.CallInfo(role="MCP request", name=name, agent=agent),
        kind=SpanKind.CLIENT,
        attributes=attrs,
        on_failure=_record_error_code,
    )
    out_meta = dict(meta or {})
    inject(out_meta, context=active.context)
    with active as span:
        yield span, out_meta


def _record_error_code(span: Span, exc: BaseException) -> None:
    """A JSON-RPC error's code is its ``error.type`` (after the generic failure record)."""
    code = _error_code(exc)
    if code is not None:
        span.set_attribute(sc.ERROR_TYPE, str(code))
        span.set_attribute(sc.RPC_RESPONSE_STATUS_CODE, str(code))


def _mark_tool_error(span: Span, tool: str, result: Any) -> None:
    if getattr(result, "isError", False):
        span.set_attribute(sc.ERROR_TYPE, "tool_error")
        span.set_status(
            Status(
                StatusCode.ERROR,
                f"The MCP tool {tool} returned an error: {_tool_error_text(result)}",
            )
        )


def instrument_session(session: Any, *, session_id: str | None = None) -> Any:
    """Trace ``session``'s tool calls and tasks (see the module doc); returns the session.

    ``session_id`` is the ``Mcp-Session-Id`` when the transport has one (streamable HTTP).
    Instrumenting the same session twice changes nothing.
    """
    if getattr(session, _MARK, None) is not None:
        return session
    state = _SessionTracing(session_id)
    original_call_tool = session.call_tool

    async def call_tool(
        name: str,
        arguments: dict[str, Any] | None = None,
        read_timeout_seconds: Any = None,
        progress_callback: Any = None,
        *,
        meta: dict[str, Any] | None = None,
    ) -> Any:
        async with _rpc_span(
            state,
            "tools/call",
            name,
            meta=meta,
            attributes={
                sc.GEN_AI_TOOL_NAME: name,
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            },
        ) as (span, out_meta):
            result = await original_call_tool(
                name, arguments, read_timeout_seconds, progress_callback, meta=out_meta
            )
            _mark_tool_error(span, name, result)
            return result

    object.__setattr__(session, "call_tool", call_tool)
    object.__setattr__(session, _MARK, state)
    _instrument_tasks(session, state)
    return session


def _instrument_tasks(session: Any, state: _SessionTracing) -> None:
    with warnings.catch_warnings():  # the experimental API warns it is deprecated
        warnings.simplefilter("ignore")
        try:
            features = session.experimental
        except AttributeError:  # an mcp without the task runtime
            return
    orig_as_task = features.call_tool_as_task
    orig_get = features.get_task
    orig_result = features.get_task_result
    orig_cancel = features.cancel_task
    orig_list = features.list_tasks

    async def call_tool_as_task(
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        ttl: int = 60000,
        meta: dict[str, Any] | None = None,
    ) -> Any:
        parent = otel_context.get_current()
        async with _rpc_span(
            state,
            "tools/call",
            name,
            meta=meta,
            attributes={
                sc.GEN_AI_TOOL_NAME: name,
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                sc.MCP_TASK_TTL_MS: ttl,
            },
        ) as (span, out_meta):
            result = await orig_as_task(name, arguments, ttl=ttl, meta=out_meta)
            task = result.task
            span.set_attribute(sc.MCP_TASK_ID, task.taskId)
        with handle_internal_errors("follow MCP task"):
            attrs: dict[str, Any] = {sc.GEN_AI_TOOL_NAME: name}
            if state.session_id is not None:
                attrs[sc.MCP_SESSION_ID] = state.session_id
            followed = Task(
                name,
                task_id=task.taskId,
                ttl_ms=task.ttl,
                poll_interval_ms=getattr(task, "pollInterval", None),
                attributes=attrs,
                parent=parent,
            )
            if task.status != "working":
                followed.set_status(task.status, task.statusMessage)
            if not followed.is_terminal:
                state.tasks[task.taskId] = followed
        return result

    async def get_task(task_id: str) -> Any:
        result = await orig_get(task_id)
        followed = state.tasks.get(task_id)
        if followed is not None:
            with handle_internal_errors("MCP task poll"):
                followed.record_poll(result.status, result.statusMessage)
                if followed.is_terminal:
                    state.tasks.pop(task_id, None)
        return result

    async def get_task_result(task_id: str, result_type: Any) -> Any:
        followed = state.tasks.get(task_id)
        async with _rpc_span(state, "tasks/result", attributes={sc.MCP_TASK_ID: task_id}) as (
            span,
            _meta,
        ):
            try:
                result = await orig_result(task_id, result_type)
            except Exception as exc:
                if followed is not None and not followed.is_terminal:
                    followed.fail(str(exc) or type(exc).__name__)
                    state.tasks.pop(task_id, None)
                raise
            if getattr(result, "isError", False):
                span.set_attribute(sc.ERROR_TYPE, "tool_error")
                span.set_status(Status(StatusCode.ERROR, _tool_error_text(result)))
            if followed is not None and not followed.is_terminal:
                if getattr(result, "isError", False):
                    followed.fail(_tool_error_text(result))
                else:
                    followed.complete(message=followed.status_message)
                state.tasks.pop(task_id, None)
            return result

    async def cancel_task(task_id: str) -> Any:
        async with _rpc_span(state, "tasks/cancel", attributes={sc.MCP_TASK_ID: task_id}) as (
            _span,
            _meta,
        ):
            result = await orig_cancel(task_id)
            followed = state.tasks.pop(task_id, None)
            if followed is not None:
                followed.set_status(result.status, result.statusMessage)
            return result

    async def list_tasks(cursor: str | None = None) -> Any:
        async with _rpc_span(state, "tasks/list") as (_span, _meta):
            return await orig_list(cursor)

    for attr, fn in (
        ("call_tool_as_task", call_tool_as_task),
        ("get_task", get_task),
        ("get_task_result", get_task_result),
        ("cancel_task", cancel_task),
        ("list_tasks", list_tasks),
    ):
        setattr(features, attr, fn)


RELATED_TASK = "io.modelcontextprotocol/related-task"
_YES = frozenset({"yes", "y", "true", "approve", "approved", "ok", "confirm", "confirmed"})


def _related_task_id(params: Any) -> str | None:
    meta = getattr(params, "meta", None)
    extra = (getattr(meta, "model_extra", None) or {}) if meta is not None else {}
    related = extra.get(RELATED_TASK)
    task_id = related.get("taskId") if isinstance(related, Mapping) else None
    return task_id if isinstance(task_id, str) else None


def _yes(answer: Any) -> bool:
    decision = getattr(answer, "decision", None)
    if decision is not None:
        return bool(decision == "approve")
    return str(answer).strip().lower().rstrip(".!") in _YES


def elicitation_content(schema: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    """The form values an answer stands for: the answer itself when it is a mapping, else its
    text in the string fields and its approval in the boolean ones (numbers parsed)."""
    value = getattr(answer, "value", answer)
    if isinstance(value, Mapping):
        return dict(value)
    text = str(answer)
    content: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if kind == "boolean":
            content[name] = _yes(answer)
        elif kind in ("number", "integer"):
            try:
                content[name] = int(text) if kind == "integer" else float(text)
            except ValueError:
                continue
        elif kind == "string":
            choices = prop.get("enum")
            if not choices or text in choices:
                content[name] = text
    return content


def inbox_elicitation(*, timeout_s: float | None = None, agent: str | None = None) -> Any:
    """An ``elicitation_callback`` for ``mcp.ClientSession`` that asks a person through
    semtrace's Inbox (see the module doc). The server's task followed by semtrace (or, for a
    question outside any task, a task of its own named ``elicitation``) moves to
    ``input_required`` with the question; an answer is accepted with the form values it
    stands for, a rejection is declined, a cancel or ``timeout_s`` without answer cancels."""
    from mcp.types import ElicitResult

    async def callback(context: Any, params: Any) -> Any:
        task_id = _related_task_id(params)
        task = get_task(task_id) if task_id is not None else None
        own = task is None
        if task is None:
            task = Task("elicitation", task_id=task_id, agent=agent)
        task.set_status("input_required", params.message)
        try:
            answer = await task.wait_for_input(timeout=timeout_s)
        except TimeoutError:
            return ElicitResult(action="cancel")
        except asyncio.CancelledError:
            if task.status != "cancelled":
                raise  # this coroutine itself was cancelled, not the task
            return ElicitResult(action="cancel")
        if own:
            task.complete()
        if getattr(answer, "decision", None) == "reject":
            return ElicitResult(action="decline")
        schema = getattr(params, "requestedSchema", None) or {}
        return ElicitResult(action="accept", content=elicitation_content(schema, answer))

    return callback
