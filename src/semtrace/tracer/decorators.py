"""``agent``, ``tool``, ``llm`` and ``step``: spans in the OTel GenAI shape around user code.

Each works as a decorator (bare or with arguments) on sync and async functions, generators,
async generators and methods, and as a context manager (``with semtrace.tool("x") as span``).
Generators get one span that covers the whole iteration, with the context re-attached at each
resume so work done inside is parented correctly, wherever the consumer iterates.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind

from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors, internal_error
from semtrace.tracer import _content, _failures
from semtrace.tracer._context import current_agent, current_attempt
from semtrace.tracer._lifecycle import ActiveSpan, start_span
from semtrace.tracer._usage import record_llm_chunk, record_llm_result
from semtrace.tracer.setup import STATE

__all__ = ["Instrumentation", "agent", "llm", "step", "tool"]

F = TypeVar("F", bound=Callable[..., Any])
# The spans each Instrumentation entered as a context manager, per thread/task: one instance
# may be entered by concurrent tasks, and each must exit its own span.
_ACTIVE: ContextVar[Mapping[int, tuple[ActiveSpan, ...]]] = ContextVar(
    "semtrace_entered", default=MappingProxyType({})
)


@dataclass
class Instrumentation(AbstractContextManager[Span], AbstractAsyncContextManager[Span]):
    """What ``agent()``/``tool()``/``llm()``/``step()`` return: a decorator and a context manager."""

    role: str  # agent, tool, llm, step
    name: str | None
    operation: str
    kind: SpanKind
    attributes: dict[str, Any] = field(default_factory=dict)
    capture_input: bool = True
    _statics: dict[str, tuple[str, dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # -- span building -----------------------------------------------------------------------
    def span_name(self, fallback: str) -> str:
        target = self.name or fallback
        if self.role == "llm":
            model = self.attributes.get(sc.GEN_AI_REQUEST_MODEL)
            return f"{self.operation} {model}" if model else self.operation
        return f"{self.operation} {target}" if target else self.operation

    def _static(self, fallback: str) -> tuple[str, dict[str, Any]]:
        """The span name and the attributes every call's span starts with (the operation,
        the agent's, tool's or step's name, the decorator's own attributes): worked out once
        per name, not on every call."""
        static = self._statics.get(fallback)
        if static is None:
            attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: self.operation}
            target = self.name or fallback
            if self.role == "agent":
                attrs[sc.GEN_AI_AGENT_NAME] = target
                attrs[sc.SEMTRACE_AGENT_NAME] = target
            elif self.role == "tool":
                attrs[sc.GEN_AI_TOOL_NAME] = target
                attrs.setdefault(sc.GEN_AI_TOOL_TYPE, "function")
            elif self.role == "step":
                attrs[sc.GEN_AI_WORKFLOW_NAME] = target
                attrs[sc.SEMTRACE_STEP_NAME] = target
            attrs.update(self.attributes)
            static = self.span_name(fallback), attrs
            if len(self._statics) < 64:  # a context manager's names are few
                self._statics[fallback] = static
        return static

    def _start(
        self,
        fallback: str,
        parent: otel_context.Context | None,
        call: _failures.CallInfo,
        content: tuple[str, str] | None = None,
    ) -> ActiveSpan:
        """Start the span of ``call`` (its agent and attempt were read from the context it
        starts in); ``content`` is its input, recorded with the start attributes."""
        name, static = self._static(fallback)
        attributes = dict(static)
        if self.role != "agent" and call.agent is not None:
            # the enclosing agent, unless the decorator's own attributes name one
            attributes.setdefault(sc.SEMTRACE_AGENT_NAME, call.agent)
        if call.attempt is not None:
            attributes[sc.SEMTRACE_ATTEMPT] = call.attempt
        if content is not None:
            attributes[content[0]] = content[1]
        return start_span(
            name,
            call,
            parent=parent,
            kind=self.kind,
            attributes=attributes,
            agent=self.name or fallback if self.role == "agent" else None,
        )

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Span:
        name = self.name or self.role
        call = _failures.CallInfo(
            role=self.role,
            name=name,
            agent=current_agent() if self.role != "agent" else self.name,
            attempt=current_attempt(),
        )
        active = self._start(name, None, call)
        active.attach()
        stacks = dict(_ACTIVE.get())
        stacks[id(self)] = (*stacks.get(id(self), ()), active)
        _ACTIVE.set(stacks)
        return active.span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stacks = dict(_ACTIVE.get())
        *rest, active = stacks[id(self)]
        if rest:
            stacks[id(self)] = tuple(rest)
        else:
            del stacks[id(self)]
        active.detach()
        _ACTIVE.set(stacks)
        if exc is not None:
            active.fail(exc)
        active.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ---------------------------------------------------------------------------
    def __call__(self, fn: F) -> F:
        return _decorate(self, fn)


def _check_callable(fn: object, what: str) -> None:
    if inspect.isclass(fn):
        raise TypeError(
            f"semtrace.{what}() cannot decorate the class {fn.__name__}: decorate its methods, "
            f"or use semtrace.wrap(instance) to instrument an existing object"
        )
    if not callable(fn):
        raise TypeError(
            f"semtrace.{what}() decorates functions, methods, generators and coroutines; "
            f"got {type(fn).__name__} {fn!r}"
        )


def _decorate(inst: Instrumentation, fn: F) -> F:
    if isinstance(fn, staticmethod | classmethod):  # decorator placed above @classmethod
        return cast(F, type(fn)(_decorate(inst, fn.__func__)))
    _check_callable(fn, inst.role)
    fallback = getattr(fn, "__name__", None) or type(fn).__name__
    purpose = _failures.purpose_from_doc(fn)
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    names = _content.parameter_names(signature)
    inputs = _Inputs(signature) if inst.capture_input else None

    def call_info(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> _failures.CallInfo:
        agent = inst.name or fallback if inst.role == "agent" else current_agent()
        return _failures.CallInfo(
            role=inst.role,
            name=inst.name or fallback,
            agent=agent,
            purpose=purpose,
            attempt=current_attempt(),
            inputs=None if inputs is None else (inputs, args, kwargs),
        )

    # Inputs and outputs on every call: the hot path catches inline (a context manager per
    # call costs as much as the recording).
    def start_content(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[str, str] | None:
        if not _records_content(inst):
            return None
        try:
            return _content.input_attribute(inst.role, names, args, kwargs)
        except Exception as exc:
            internal_error("record input", exc)
            return None

    def start_ok(span: Span, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        content = start_content(args, kwargs)
        if content is not None and span.is_recording():
            span.set_attribute(*content)

    def finish_ok(span: Span, result: Any) -> None:
        if inst.role == "llm":
            try:
                record_llm_result(span, result)
            except Exception as exc:
                internal_error("record llm usage", exc)
        if _records_content(inst):
            try:
                _content.record_output(span, inst.role, result)
            except Exception as exc:
                internal_error("record output", exc)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            call = call_info(args, kwargs)
            parent = otel_context.get_current()
            return _traced_agen(
                inst,
                fallback,
                parent,
                call,
                fn(*args, **kwargs),
                lambda s: start_ok(s, args, kwargs),
            )

        return cast(F, agen_wrapper)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            call = call_info(args, kwargs)
            parent = otel_context.get_current()
            return _traced_gen(
                inst,
                fallback,
                parent,
                call,
                fn(*args, **kwargs),
                lambda s: start_ok(s, args, kwargs),
            )

        return cast(F, gen_wrapper)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = call_info(args, kwargs)
            with inst._start(fallback, None, call, start_content(args, kwargs)) as span:
                result = await fn(*args, **kwargs)
                finish_ok(span, result)
                return result

        return cast(F, async_wrapper)

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        call = call_info(args, kwargs)
        with inst._start(fallback, None, call, start_content(args, kwargs)) as span:
            result = fn(*args, **kwargs)
            finish_ok(span, result)
            return result

    return cast(F, sync_wrapper)


def _traced_gen(
    inst: Instrumentation,
    fallback: str,
    parent: otel_context.Context,
    call: _failures.CallInfo,
    gen: Generator[Any, Any, Any],
    on_start: Callable[[Span], None],
) -> Generator[Any, Any, Any]:
    # The span starts at the first next() and ends when the generator is exhausted, closed
    # or fails; the consumer's own context is never touched between items.
    call.started = time.perf_counter()
    active = inst._start(fallback, parent, call)
    span = active.span
    on_start(span)
    first: list[Any] = []  # the first few items, for the span's output
    items = 0
    send_value: Any = None
    throw: BaseException | None = None
    try:
        while True:
            active.attach()
            try:
                if throw is not None:
                    exc, throw = throw, None
                    item = gen.throw(exc)
                else:
                    item = gen.send(send_value)
            except StopIteration as stop:
                _summarise(inst, span, items, first)
                return stop.value
            finally:
                active.detach()
            items += 1
            if len(first) < _FIRST_ITEMS:
                first.append(item)
            if inst.role == "llm":
                with handle_internal_errors("record llm usage"):
                    record_llm_chunk(span, item)
            try:
                send_value = yield item
            except GeneratorExit:
                gen.close()
                _summarise(inst, span, items, first)
                raise
            except BaseException as exc:  # thrown in by the consumer: pass it on
                throw = exc
    except GeneratorExit:
        raise
    except BaseException as exc:
        active.fail(exc)
        raise
    finally:
        active.end()


async def _traced_agen(
    inst: Instrumentation,
    fallback: str,
    parent: otel_context.Context,
    call: _failures.CallInfo,
    agen: AsyncGenerator[Any, Any],
    on_start: Callable[[Span], None],
) -> AsyncGenerator[Any, Any]:
    call.started = time.perf_counter()
    active = inst._start(fallback, parent, call)
    span = active.span
    on_start(span)
    first: list[Any] = []  # the first few items, for the span's output
    items = 0
    send_value: Any = None
    throw: BaseException | None = None
    try:
        while True:
            active.attach()
            try:
                if throw is not None:
                    exc, throw = throw, None
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(send_value)
            except StopAsyncIteration:
                _summarise(inst, span, items, first)
                return
            finally:
                active.detach()
            items += 1
            if len(first) < _FIRST_ITEMS:
                first.append(item)
            if inst.role == "llm":
                with handle_internal_errors("record llm usage"):
                    record_llm_chunk(span, item)
            try:
                send_value = yield item
            except GeneratorExit:
                await agen.aclose()
                _summarise(inst, span, items, first)
                raise
            except BaseException as exc:
                throw = exc
    except GeneratorExit:
        raise
    except BaseException as exc:
        active.fail(exc)
        raise
    finally:
        active.end()


_FIRST_ITEMS = 3


class _Inputs:
    """The arguments of calls to one decorated function, for a failure's sentence and
    evidence (see ``CallInfo.inputs``): one per function, so a call creates no closure."""

    __slots__ = ("signature",)

    def __init__(self, signature: inspect.Signature | None) -> None:
        self.signature = signature

    def describe(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
        settings = STATE.settings  # configure(capture_inputs=, max_input_chars=)
        if settings is not None and not (settings.capture_inputs and settings.max_input_chars):
            return None
        limit = settings.max_input_chars if settings else _failures.MAX_INPUT_CHARS
        with handle_internal_errors("capture input"):
            return _failures.describe_input(self.signature, args, kwargs, limit)
        return None

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
        return _failures.bound_arguments(self.signature, args, kwargs)


def _records_content(inst: Instrumentation) -> bool:
    """Inputs and outputs go on the span unless the decorator said ``capture_input=False``;
    an LLM call's messages always do (its ``capture_input`` only keeps the prompt out of
    failure sentences). ``configure(capture_content=False)`` turns both off."""
    return inst.capture_input or inst.role == "llm"


def _summarise(inst: Instrumentation, span: Span, items: int, first: list[Any]) -> None:
    """A generator's span output: how many items it yielded and the first few."""
    span.set_attribute("semtrace.items", items)
    if _records_content(inst):
        with handle_internal_errors("record output"):
            _content.summarise_items(span, inst.role, items, first)


# -- public factories -----------------------------------------------------------------------


def _factory(
    role: str,
    operation: str,
    kind: SpanKind,
    name_or_fn: Any,
    attributes: dict[str, Any],
    capture_input: bool,
) -> Any:
    if callable(name_or_fn) or inspect.isclass(name_or_fn):
        inst = Instrumentation(role, None, operation, kind, attributes, capture_input)
        return inst(name_or_fn)
    if name_or_fn is not None and not isinstance(name_or_fn, str):
        raise TypeError(
            f"semtrace.{role}() takes a name (str) or decorates a callable; got "
            f"{type(name_or_fn).__name__}"
        )
    return Instrumentation(role, name_or_fn, operation, kind, attributes, capture_input)


def _clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None}


@overload
def agent(name: F, /) -> F: ...
@overload
def agent(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    id: str | None = None,
    provider: str | None = None,
    remote: bool = False,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
) -> Instrumentation: ...
def agent(
    name: Any = None,
    /,
    *,
    description: str | None = None,
    id: str | None = None,
    provider: str | None = None,
    remote: bool = False,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
) -> Any:
    """An agent invocation: span ``invoke_agent {name}`` (INTERNAL in-process, CLIENT if remote).

    Every span made inside it carries the agent's name, and so do semantic logs.
    """
    attrs = _clean(
        {
            sc.GEN_AI_AGENT_DESCRIPTION: description,
            sc.GEN_AI_AGENT_ID: id,
            sc.GEN_AI_PROVIDER_NAME: provider,
            **(attributes or {}),
        }
    )
    kind = SpanKind.CLIENT if remote else SpanKind.INTERNAL
    return _factory("agent", sc.OP_INVOKE_AGENT, kind, name, attrs, capture_input)


@overload
def tool(name: F, /) -> F: ...
@overload
def tool(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    type: str = "function",
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
) -> Instrumentation: ...
def tool(
    name: Any = None,
    /,
    *,
    description: str | None = None,
    type: str = "function",
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
) -> Any:
    """A tool call: span ``execute_tool {name}`` (INTERNAL), ``gen_ai.tool.*`` attributes."""
    attrs = _clean(
        {
            sc.GEN_AI_TOOL_DESCRIPTION: description,
            sc.GEN_AI_TOOL_TYPE: type,
            **(attributes or {}),
        }
    )
    return _factory("tool", sc.OP_EXECUTE_TOOL, SpanKind.INTERNAL, name, attrs, capture_input)


def llm(
    fn: Any = None,
    /,
    *,
    model: str | None = None,
    provider: str | None = None,
    operation: str = sc.OP_CHAT,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = False,
) -> Any:
    """An LLM call: span ``{operation} {model}`` (CLIENT). When the call returns usage
    (an OpenAI/Anthropic-style response or a dict with ``usage``), tokens and the response
    model are recorded and ``cost_usd`` follows from the price table."""
    attrs = _clean(
        {
            sc.GEN_AI_REQUEST_MODEL: model,
            sc.GEN_AI_PROVIDER_NAME: provider,
            **(attributes or {}),
        }
    )
    inst = Instrumentation("llm", model, operation, SpanKind.CLIENT, attrs, capture_input)
    if fn is not None:
        if isinstance(fn, str):
            raise TypeError(
                "semtrace.llm() takes model= as a keyword: @semtrace.llm(model='gpt-4o')"
            )
        return inst(fn)
    return inst


@overload
def step(name: F, /) -> F: ...
@overload
def step(
    name: str | None = None,
    /,
    *,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
) -> Instrumentation: ...
def step(
    name: Any = None,
    /,
    *,
    attributes: Mapping[str, Any] | None = None,
    capture_input: bool = True,
) -> Any:
    """A workflow step: span ``invoke_workflow {name}`` (INTERNAL)."""
    return _factory(
        "step",
        sc.OP_INVOKE_WORKFLOW,
        SpanKind.INTERNAL,
        name,
        dict(attributes or {}),
        capture_input,
    )
