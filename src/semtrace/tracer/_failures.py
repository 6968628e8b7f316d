"""What happens when traced code raises: the exception event, the status, and a sentence.

The sentence says which agent, which step or tool, with what input, after how long, on which
attempt, what the step was for and what the exception said (a cancellation or a timeout says
so). It becomes the span's status message and an ERROR log linked to the span, with the
low-cardinality template and the facts it was made from. ``FAILURE_HOOKS`` are called after.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode, format_span_id, format_trace_id

from semtrace import semconv as sc
from semtrace._errors import error_type, handle_internal_errors
from semtrace.redaction import redact_text
from semtrace.telemetry.processors import emit_record

__all__ = [
    "FAILURE_HOOKS",
    "CallInfo",
    "FailureText",
    "describe_failure",
    "describe_input",
    "exception_sentence",
    "purpose_from_doc",
    "record_failure",
]

MAX_INPUT_CHARS = 500
MAX_ERROR_CHARS = 300
_SKIP_PARAMS = frozenset({"self", "cls"})


@dataclass
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
    # Describing the input costs a repr of every argument: done only if the call fails.
    lazy_input: Callable[[], str | None] | None = None

    def input(self) -> str | None:
        """The call's arguments as text (described on first use)."""
        if self.input_text is None and self.lazy_input is not None:
            self.input_text, self.lazy_input = self.lazy_input(), None
        return self.input_text


@dataclass(frozen=True)
class FailureText:
    """A failure as a sentence, its low-cardinality template and the facts behind it."""

    message: str
    template: str
    action: str
    cause: str
    facts: dict[str, Any]


# Called as hook(span, call, exc, sentence) after a failure was recorded and logged.
FAILURE_HOOKS: list[Callable[[Span, CallInfo, BaseException, str], None]] = []
_redactor = redact_text


def purpose_from_doc(fn: object) -> str | None:
    """The first line of a docstring, as 'what the step was for'."""
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


def describe_input(
    signature: inspect.Signature | None,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    limit: int = MAX_INPUT_CHARS,
) -> str | None:
    """``name=value, ...`` for a call's arguments, truncated and redacted; ``self`` left out."""
    if limit <= 0:
        return None
    items: list[tuple[str, Any]]
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
            items = [(k, v) for k, v in bound.arguments.items() if k not in _SKIP_PARAMS]
        except TypeError:
            items = [(f"arg{i}", v) for i, v in enumerate(args)] + list(kwargs.items())
    else:
        items = [(f"arg{i}", v) for i, v in enumerate(args)] + list(kwargs.items())
    parts = [f"{key}={_short(value, limit)}" for key, value in items]
    if not parts:
        return None
    text = _redactor(", ".join(parts))  # before truncation, so no secret is cut in half
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _subject(call: CallInfo, agent: str | None) -> str:
    if call.role == "agent":
        return f"the {agent} agent"
    owner = f"the {agent} agent's" if agent else "the"
    if call.role == "tool":
        return f"{owner} tool {call.name}"
    if call.role == "llm":
        return f"{owner} LLM call to {call.name}"
    if call.role == "step":
        return f"{owner} step {call.name}"
    return f"{owner} {call.role} {call.name}"


_ES_ENDINGS = ("ches", "shes", "sses", "xes", "zes", "oes")


def _imperative(purpose: str) -> str | None:
    """'Looks up the vendor' -> 'look up the vendor'; None when it is not a verb phrase."""
    first, _, rest = purpose.partition(" ")
    word = first.lower()
    if word in {"a", "an", "the", "this", "helper", "internal"} or not word.isalpha():
        return None
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(_ES_ENDINGS):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return f"{word} {rest}".strip()


def _is_cancel(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError) or "Cancel" in type(exc).__name__


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


def _said(exc: BaseException) -> str:
    try:
        msg = " ".join(str(exc).split())
    except Exception:  # a broken __str__
        msg = ""
    if len(msg) > MAX_ERROR_CHARS:
        msg = msg[: MAX_ERROR_CHARS - 1] + "…"
    return msg


def _cause_text(exc: BaseException, who: str = "it") -> tuple[str, str]:
    """What the exception said, as (sentence clause, template clause); ``who`` raised it."""
    name = type(exc).__name__
    msg = _said(exc)
    if _is_cancel(exc):
        return f"{who} was cancelled", f"{who} was cancelled"
    if isinstance(exc, KeyboardInterrupt):
        said = f"{who} was interrupted (KeyboardInterrupt)"
        return said, said
    if _is_timeout(exc):
        if msg:
            return f"{who} timed out ({name}: {msg})", f"{who} timed out ({name}: {{error}})"
        return f"{who} timed out ({name})", f"{who} timed out ({name})"
    text, tmpl = (f"{name}: {msg}", f"{name}: {{error}}") if msg else (name, name)
    origin = exc.__cause__
    if origin is not None and not isinstance(origin, type(exc)):
        said = _said(origin)
        oname = type(origin).__name__
        text += f" (caused by {oname}: {said})" if said else f" (caused by {oname})"
        tmpl += f" (caused by {oname})"
    return f"{who} raised {text}", f"{who} raised {tmpl}"


# Set on an exception by the innermost traced call it escaped from, so the calls it passes
# through on the way up can say where it came from.
_ORIGIN_ATTR = "_semtrace_failed_in"


def _origin(call: CallInfo, exc: BaseException) -> str:
    """'it', or the traced call deeper down that raised ``exc`` ('the tool lookup_vendor')."""
    origin = getattr(exc, _ORIGIN_ATTR, None)
    if not isinstance(origin, tuple) or origin == (call.role, call.name):
        return "it"
    role, name = origin
    if role == "agent":
        return f"the {name} agent"
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
    """The sentence for ``exc`` raised by ``call``, its template and its facts (redacted)."""
    ended = call.ended if call.ended is not None else time.perf_counter()
    elapsed = max(0.0, ended - call.started)
    agent = call.agent or (call.name if call.role == "agent" else None)
    subject = _subject(call, agent)
    subject_t = _subject(call, "{agent}" if agent else None)
    if call.role == "agent":
        subject_t = "the {agent} agent"
    text = f"{subject} failed after {_duration(elapsed)}"
    tmpl = f"{subject_t} failed after {{duration}}"
    if call.attempt is not None:
        text += f" on attempt {call.attempt}"
        tmpl += " on attempt {attempt}"
    purpose = _imperative(call.purpose) if call.purpose else None
    if purpose:
        text += f" while trying to {purpose}"
        tmpl += f" while trying to {purpose}"
    elif call.purpose:
        text += f" ({call.purpose})"
        tmpl += f" ({call.purpose})"
    input_text = call.input()
    if input_text:
        text += f", called with {input_text}"
        tmpl += ", called with {input}"
    who = _origin(call, exc)
    said, said_t = _cause_text(exc, who)
    text = _redactor(_capital(f"{text}; {said}."))
    tmpl = _redactor(_capital(f"{tmpl}; {said_t}."))
    facts: dict[str, Any] = {
        "role": call.role,
        "name": call.name,
        "duration_ms": round(elapsed * 1000, 3),
        sc.ERROR_TYPE: error_type(exc),
        sc.EXCEPTION_MESSAGE: _redactor(_said(exc)),
    }
    if call.attempt is not None:
        facts["attempt"] = call.attempt
    if input_text:
        facts["input"] = input_text
    if call.purpose:
        facts["purpose"] = call.purpose
    if _is_timeout(exc):
        facts["timeout"] = True
    if _is_cancel(exc):
        facts["cancelled"] = True
    action = purpose or call.purpose or f"run the {call.role} {call.name}"
    cause = _redactor(re.sub(r"^it raised ", "", said))
    if who != "it":
        facts["failed_in"] = who
    return FailureText(text, tmpl, action, cause, facts)


def exception_sentence(call: CallInfo, exc: BaseException) -> str:
    """One sentence an engineer (or an LLM) can act on, from what the call was and raised."""
    return describe_failure(call, exc).message


def record_failure(span: Span, call: CallInfo, exc: BaseException) -> None:
    """Record ``exc`` on ``span`` (event, error.type, ERROR status with the sentence)."""
    if isinstance(exc, GeneratorExit | StopIteration | StopAsyncIteration):
        return
    with handle_internal_errors("record failure"):
        if call.ended is None:
            call.ended = time.perf_counter()
        sentence = exception_sentence(call, exc)
        _mark_origin(call, exc)
        # The SDK would store the raw message and traceback; store redacted ones instead.
        stack = "".join(traceback.format_exception(exc))
        span.record_exception(
            exc,
            attributes={
                sc.EXCEPTION_MESSAGE: _redactor(_said(exc)),
                sc.EXCEPTION_STACKTRACE: _redactor(stack),
            },
            escaped=True,
        )
        span.set_attribute(sc.ERROR_TYPE, error_type(exc))
        span.set_attribute(sc.SEMTRACE_SENTENCE, sentence)
        if call.input_text:
            span.set_attribute(sc.SEMTRACE_INPUT, call.input_text)
        if call.purpose:
            span.set_attribute(sc.SEMTRACE_STEP_PURPOSE, call.purpose)
        span.set_status(Status(StatusCode.ERROR, sentence))
        _log_failure(span, call, exc)
        for hook in list(FAILURE_HOOKS):
            with handle_internal_errors("failure hook"):
                hook(span, call, exc, sentence)


def _log_failure(span: Span, call: CallInfo, exc: BaseException) -> None:
    """The ERROR log of a failure, linked to its span, with the span's sentence."""
    described = describe_failure(call, exc)
    event: dict[str, Any] = dict(described.facts)
    event.update(
        event=described.message,
        template=described.template,
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
    emit_record(event, "error")
