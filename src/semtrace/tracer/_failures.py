"""What happens when traced code raises: the exception event, the status, and a sentence.

The sentence says which agent, which step or tool, with what input, after how long, on which
attempt, what the step was for and what the exception said. It becomes the span's status
message; hooks (the semantic logger installs one) turn it into an ERROR log as well.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from semtrace import semconv as sc
from semtrace._errors import handle_internal_errors

__all__ = [
    "FAILURE_HOOKS",
    "CallInfo",
    "describe_input",
    "exception_sentence",
    "purpose_from_doc",
    "record_failure",
]

MAX_INPUT_CHARS = 500
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
    # Describing the input costs a repr of every argument: done only if the call fails.
    lazy_input: Callable[[], str | None] | None = None

    def input(self) -> str | None:
        if self.input_text is None and self.lazy_input is not None:
            self.input_text, self.lazy_input = self.lazy_input(), None
        return self.input_text


# Called as hook(span, call, exc, sentence) after a failure was recorded on the span.
FAILURE_HOOKS: list[Callable[[Span, CallInfo, BaseException, str], None]] = []

_redactor: Callable[[str], str] = lambda text: text  # noqa: E731 - replaced by telemetry


def set_redactor(redact: Callable[[str], str]) -> None:
    """Install the function that scrubs secrets from captured inputs (telemetry does)."""
    global _redactor
    _redactor = redact


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
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_input(
    signature: inspect.Signature | None,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    limit: int = MAX_INPUT_CHARS,
) -> str | None:
    """``name=value, ...`` for a call's arguments, truncated and redacted; ``self`` left out."""
    parts: list[str] = []
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
            items = [(k, v) for k, v in bound.arguments.items() if k not in _SKIP_PARAMS]
        except TypeError:
            items = [(f"arg{i}", v) for i, v in enumerate(args)] + list(kwargs.items())
    else:
        items = [(f"arg{i}", v) for i, v in enumerate(args)] + list(kwargs.items())
    for key, value in items:
        parts.append(f"{key}={_short(value, limit)}")
    if not parts:
        return None
    text = ", ".join(parts)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _redactor(text)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _subject(call: CallInfo) -> str:
    owner = f"the {call.agent} agent's" if call.agent and call.role != "agent" else "the"
    if call.role == "agent":
        return f"the {call.name} agent"
    if call.role == "tool":
        return f"{owner} tool {call.name}"
    if call.role == "llm":
        return f"{owner} LLM call to {call.name}"
    if call.role == "step":
        return f"{owner} step {call.name}"
    return f"{owner} {call.role} {call.name}"


def _exc_text(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "it was cancelled"
    if isinstance(exc, TimeoutError):
        msg = str(exc)
        return f"it timed out ({type(exc).__name__}{': ' + msg if msg else ''})"
    msg = str(exc).strip()
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def exception_sentence(call: CallInfo, exc: BaseException) -> str:
    """One sentence an engineer (or an LLM) can act on, from what the call was and raised."""
    elapsed = time.perf_counter() - call.started
    text = f"{_subject(call)} failed after {_duration(elapsed)}"
    if call.attempt is not None:
        text += f" on attempt {call.attempt}"
    if call.purpose:
        text += f" while trying to {call.purpose[0].lower() + call.purpose[1:]}"
    input_text = call.input()
    if input_text:
        text += f", called with {input_text}"
    text += f"; {_exc_text(exc)}"
    return _redactor(text[0].upper() + text[1:])


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return (
        cls.__qualname__
        if module in {"builtins", "asyncio.exceptions"}
        else f"{module}.{cls.__qualname__}"
    )


def record_failure(span: Span, call: CallInfo, exc: BaseException) -> None:
    """Record ``exc`` on ``span`` (event, error.type, ERROR status with the sentence)."""
    if isinstance(exc, GeneratorExit | StopIteration | StopAsyncIteration):
        return
    with handle_internal_errors("record failure"):
        sentence = exception_sentence(call, exc)
        span.record_exception(exc, escaped=True)
        span.set_attribute(sc.ERROR_TYPE, _error_type(exc))
        span.set_attribute(sc.SEMTRACE_SENTENCE, sentence)
        if call.input_text:
            span.set_attribute(sc.SEMTRACE_INPUT, call.input_text)
        if call.purpose:
            span.set_attribute(sc.SEMTRACE_STEP_PURPOSE, call.purpose)
        span.set_status(Status(StatusCode.ERROR, sentence))
        for hook in list(FAILURE_HOOKS):
            with handle_internal_errors("failure hook"):
                hook(span, call, exc, sentence)
