"""What happens when traced code raises: the exception event, the status, and a sentence.

The sentence says who failed (the agent, its tool or step), doing what (the first line of
the docstring, as written), how long it ran, on which attempt, with what input, why (the
exception, sharpened with the evidence the call left: see :mod:`._cause`), and what it cost:
the impact on the nearest agent up the chain (it failed at its purpose, went on without the
result, or recovered). The span's status message is the sentence without the impact (the
span ends before its agent does); the ERROR log linked to the span has the whole sentence,
written when the agent's outcome is known (at once when there is no agent). The facts the
exception carried (status code, errno, codes, Retry-After) are recorded on the span.
``FAILURE_HOOKS`` are called after each failure is recorded.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, Status, StatusCode, format_span_id, format_trace_id

from semtrace import semconv as sc
from semtrace._errors import error_type, handle_internal_errors
from semtrace.redaction import redact_text
from semtrace.telemetry.errors import error_facts
from semtrace.telemetry.processors import emit_record
from semtrace.telemetry.sentences import agent_phrase
from semtrace.tracer._cause import cause_of, duration_text, is_cancel, is_timeout, said

__all__ = [
    "FAILURE_HOOKS",
    "CallInfo",
    "FailureText",
    "InputSource",
    "agent_context",
    "describe_failure",
    "describe_input",
    "exception_sentence",
    "mark_recovered",
    "origin_of",
    "purpose_from_doc",
    "record_failure",
    "settle",
]

MAX_INPUT_CHARS = 500
MAX_PENDING = 64  # failure logs an agent holds until its outcome is known; more are written at once
# Calls that are an agent's work as a whole: an agent's invocation, a bus handler it
# subscribed, a long-running task it owns. A failure below one of them costs that work.
AGENT_ROLES = frozenset({"agent", "handler for", "task"})
_SKIP_PARAMS = frozenset({"self", "cls"})
AGENT_CALL_KEY = otel_context.create_key("semtrace-agent-call")


def _nearest_agent_call() -> CallInfo | None:
    value = otel_context.get_value(AGENT_CALL_KEY)
    return value if isinstance(value, CallInfo) else None


@dataclass
class _Pending:
    """A failure log waiting for its agent's outcome, to say the impact."""

    event: dict[str, Any]
    described: FailureText
    exc: BaseException


@dataclass(eq=False)
class CallInfo:
    """What a traced call was, for the sentence written if it fails."""

    role: str  # agent, tool, llm, step, or another span kind's name
    name: str
    agent: str | None = None
    input_text: str | None = None
    purpose: str | None = None
    attempt: int | None = None
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None  # set when the failure is recorded, so every reader agrees
    # The call's arguments, with what describes them: describing costs a repr of every
    # argument, done only if the call fails; bound, they are the evidence of a cause (which
    # field was None).
    inputs: tuple[InputSource, tuple[Any, ...], Mapping[str, Any]] | None = None
    # The nearest agent call up the chain when this call started: whom a failure affects.
    parent: CallInfo | None = field(default_factory=_nearest_agent_call, repr=False)
    # For an agent call: failures below it, until its outcome is known.
    pending: list[_Pending] = field(default_factory=list, repr=False)
    failed: bool = False
    settled: bool = False

    described: bool = False

    def input(self) -> str | None:
        """The call's arguments as text (described on first use)."""
        if not self.described and self.input_text is None and self.inputs is not None:
            source, args, kwargs = self.inputs
            self.input_text, self.described = source.describe(args, kwargs), True
        return self.input_text

    def arguments(self) -> Mapping[str, Any]:
        """The call's bound arguments (``self`` left out), or nothing when not captured."""
        if self.inputs is None:
            return {}
        source, args, kwargs = self.inputs
        try:
            return source.bind(args, kwargs)
        except Exception:  # a signature that does not bind is no reason to fail
            return {}


class InputSource(Protocol):
    """Describes and binds the arguments of calls to one function (see ``CallInfo.inputs``)."""

    def describe(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None: ...

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class FailureText:
    """A failure as a sentence, its low-cardinality template and the facts behind it."""

    message: str
    template: str
    action: str
    cause: str
    facts: dict[str, Any]
    impact: str | None = None


# Called as hook(span, call, exc, sentence) after a failure was recorded and logged.
FAILURE_HOOKS: list[Callable[[Span, CallInfo, BaseException, str], None]] = []
_redactor = redact_text
_pending_lock = threading.Lock()


def agent_context(ctx: otel_context.Context, call: CallInfo) -> otel_context.Context:
    """``ctx`` naming ``call`` as the agent's work that failures below it affect (when it is
    one: see ``AGENT_ROLES``)."""
    if call.role not in AGENT_ROLES:
        return ctx
    return otel_context.set_value(AGENT_CALL_KEY, call, ctx)


def purpose_from_doc(fn: object) -> str | None:
    """The first line of a docstring, as written: what the step is for."""
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    first = doc.strip().splitlines()[0].strip().rstrip(".")
    return first[:200] or None


def _short(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the agent
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def bound_arguments(
    signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """``{name: value}`` of a call's arguments; ``self`` and ``cls`` left out."""
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
            return {k: v for k, v in bound.arguments.items() if k not in _SKIP_PARAMS}
        except TypeError:
            pass
    return {**{f"arg{i}": v for i, v in enumerate(args)}, **kwargs}


def describe_input(
    signature: inspect.Signature | None,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    limit: int = MAX_INPUT_CHARS,
) -> str | None:
    """``name=value, ...`` for a call's arguments, truncated and redacted; ``self`` left out."""
    if limit <= 0:
        return None
    parts = [f"{k}={_short(v, limit)}" for k, v in bound_arguments(signature, args, kwargs).items()]
    if not parts:
        return None
    text = _redactor(", ".join(parts))  # before truncation, so no secret is cut in half
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subject(call: CallInfo, agent: str | None) -> tuple[str, str]:
    """Who failed, and its template form ("{agent}'s tool lookup_vendor")."""
    if call.role == "agent":
        return agent_phrase(agent or call.name), "{agent}"
    what = f"LLM call to {call.name}" if call.role == "llm" else f"{call.role} {call.name}"
    if agent:
        return f"{agent_phrase(agent)}'s {what}", f"{{agent}}'s {what}"
    return f"the {what}", f"the {what}"


# Set on an exception by the innermost traced call it escaped from, so the calls it passes
# through on the way up can say where it came from; heal marks the ones it recovered from.
_ORIGIN_ATTR = "_semtrace_failed_in"
_RECOVERED_ATTR = "_semtrace_recovered_by"


def origin_of(exc: BaseException) -> tuple[str, str] | None:
    """(role, name) of the innermost traced call ``exc`` escaped from, if any."""
    origin = getattr(exc, _ORIGIN_ATTR, None)
    return origin if isinstance(origin, tuple) and len(origin) == 2 else None


def mark_recovered(exc: BaseException, action: str) -> None:
    """Note that ``exc`` was recovered from (by heal's ``action``): its impact says so."""
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _RECOVERED_ATTR, action)


def _origin(call: CallInfo, exc: BaseException) -> str:
    """'it', or the traced call deeper down that raised ``exc`` ('the tool lookup_vendor')."""
    origin = origin_of(exc)
    if origin is None or origin == (call.role, call.name):
        return "it"
    role, name = origin
    if role == "agent":
        return agent_phrase(name)
    if role == "llm":
        return f"the LLM call to {name}"
    return f"the {role} {name}"


def _mark_origin(call: CallInfo, exc: BaseException) -> None:
    if getattr(exc, _ORIGIN_ATTR, None) is None:
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, _ORIGIN_ATTR, (call.role, call.name))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_failure(call: CallInfo, exc: BaseException) -> FailureText:
    """The sentence for ``exc`` raised by ``call`` (without its impact), its template and its
    facts, redacted."""
    ended = call.ended if call.ended is not None else time.perf_counter()
    elapsed = max(0.0, ended - call.started)
    agent = call.agent or (call.name if call.role == "agent" else None)
    subject, subject_t = _subject(call, agent)
    doing = f' ("{call.purpose}")' if call.purpose else ""
    text = f"{subject}{doing} failed in {duration_text(elapsed)}"
    tmpl = f"{subject_t}{doing} failed in {{duration}}"
    if call.attempt is not None:
        text += f" on attempt {call.attempt}"  # not in the template: one kind of failure
    input_text = call.input()
    if input_text:
        text += f", called with {input_text}"
        tmpl += ", called with {input}"
    who = _origin(call, exc)
    cause = cause_of(exc, call.arguments(), who)
    text = _redactor(_capital(f"{text}, because {cause.text}."))
    tmpl = _redactor(_capital(f"{tmpl}, because {cause.template}."))
    facts: dict[str, Any] = {
        "role": call.role,
        "name": call.name,
        "duration_ms": round(elapsed * 1000, 3),
        sc.ERROR_TYPE: error_type(exc),
        sc.EXCEPTION_MESSAGE: _redactor(said(exc)),
        **cause.evidence,
    }
    if call.attempt is not None:
        facts["attempt"] = call.attempt
    if input_text:
        facts["input"] = input_text
    if call.purpose:
        facts["purpose"] = call.purpose
    if is_timeout(exc):
        facts["timeout"] = True
    if is_cancel(exc):
        facts["cancelled"] = True
    if who != "it":
        facts["failed_in"] = who
    action = call.purpose or f"run the {call.role} {call.name}"
    return FailureText(text, tmpl, action, _redactor(cause.text), facts)


def exception_sentence(call: CallInfo, exc: BaseException) -> str:
    """One sentence an engineer (or an LLM) can act on, from what the call was and raised."""
    return describe_failure(call, exc).message


def _impact(owner: CallInfo, outcome: str, exc: BaseException) -> str:
    """What the failure cost the agent up the chain: it failed at its purpose, went on
    without the result (degraded), or went on after heal recovered it (delayed). The same
    words serve as the template: an agent and its purpose are not values."""
    who = agent_phrase(owner.agent or owner.name)
    goal = f'"{owner.purpose}"' if owner.purpose else None
    if outcome == "failed":
        return f"so {who} failed" + (f" at {goal}" if goal else "")
    recovered = getattr(exc, _RECOVERED_ATTR, None)
    if isinstance(recovered, str):
        return f"so heal recovered it with {recovered} and {who} went on" + (
            f" ({goal} delayed)" if goal else " (delayed)"
        )
    return f"so {who} went on without its result" + (
        f" ({goal} degraded)" if goal else " (degraded)"
    )


def with_impact(described: FailureText, impact: str) -> FailureText:
    """``described`` with ", so <impact>." at the end of its sentence and template."""
    text = impact
    return FailureText(
        described.message.removesuffix(".") + f", {text}.",
        described.template.removesuffix(".") + f", {text}.",
        described.action,
        described.cause,
        described.facts,
        text.removeprefix("so "),
    )


def _log_event(span: Span, call: CallInfo, described: FailureText) -> dict[str, Any]:
    event: dict[str, Any] = dict(described.facts)
    event.update(
        level="error",
        event_name="exception",
        logger_name="semtrace.tracer",
        action=described.action,
        cause=described.cause,
        agent=call.agent or (call.name if call.role == "agent" else None),
        _time_ns=time.time_ns(),
    )
    ctx = span.get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format_trace_id(ctx.trace_id)
        event["span_id"] = format_span_id(ctx.span_id)
    return event


def _emit(event: dict[str, Any], described: FailureText) -> None:
    event = dict(event)
    event.update(event=described.message, template=described.template)
    if described.impact:
        event["impact"] = described.impact
    emit_record(event, "error")


def _settle_pending(owner: CallInfo, outcome: str) -> None:
    with _pending_lock:
        pending, owner.pending = owner.pending, []
    for item in pending:
        with handle_internal_errors("failure log"):
            _emit(item.event, with_impact(item.described, _impact(owner, outcome, item.exc)))


def settle(call: CallInfo) -> None:
    """At the end of an agent's span: the failures below it that it survived are logged with
    their impact (the agent went on without the result, or heal recovered it)."""
    if call.role not in AGENT_ROLES or call.settled:
        return
    call.settled = True
    if call.pending:
        _settle_pending(call, "failed" if call.failed else "went on")


def _log_failure(span: Span, call: CallInfo, exc: BaseException, described: FailureText) -> None:
    """The ERROR log of a failure: held by the agent it affects until that agent's outcome is
    known, written at once when there is none (or it holds too many)."""
    event = _log_event(span, call, described)
    owner = call.parent
    if owner is not None and not owner.settled:
        with _pending_lock:
            if len(owner.pending) < MAX_PENDING:
                owner.pending.append(_Pending(event, described, exc))
                return
    _emit(event, described)


def record_failure(span: Span, call: CallInfo, exc: BaseException) -> None:
    """Record ``exc`` on ``span`` (event, error.type and the facts it carried, ERROR status
    with the sentence) and log it."""
    if isinstance(exc, GeneratorExit | StopIteration | StopAsyncIteration):
        return
    with handle_internal_errors("record failure"):
        if call.ended is None:
            call.ended = time.perf_counter()
        described = describe_failure(call, exc)
        _mark_origin(call, exc)
        # The SDK would store the raw message and traceback; store redacted ones instead.
        stack = "".join(traceback.format_exception(exc))
        span.record_exception(
            exc,
            attributes={
                sc.EXCEPTION_MESSAGE: _redactor(said(exc)),
                sc.EXCEPTION_STACKTRACE: _redactor(stack),
            },
            escaped=True,
        )
        span.set_attribute(sc.ERROR_TYPE, error_type(exc))
        span.set_attributes(error_facts(exc))
        span.set_attribute(sc.SEMTRACE_SENTENCE, described.message)
        if call.input_text:
            span.set_attribute(sc.SEMTRACE_INPUT, call.input_text)
        if call.purpose:
            span.set_attribute(sc.SEMTRACE_STEP_PURPOSE, call.purpose)
        span.set_status(Status(StatusCode.ERROR, described.message))
        if call.role in AGENT_ROLES:
            call.failed = True
            _settle_pending(call, "failed")
        _log_failure(span, call, exc, described)
        for hook in list(FAILURE_HOOKS):
            with handle_internal_errors("failure hook"):
                hook(span, call, exc, described.message)
