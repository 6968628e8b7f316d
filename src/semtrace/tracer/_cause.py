"""The cause of a failure, in words, sharpened with the evidence the failing call left.

An exception says what went wrong where it was raised; the call around it knows more. When
the evidence is there, the cause says it: the input field that was ``None`` (or missing)
when the exception names it or the failing line touches it, the service (host) and the HTTP
status it answered, the timeout that elapsed, the field a validation rejected. The
exception itself always follows in parentheses, so nothing it said is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from semtrace import semconv as sc
from semtrace.telemetry.errors import error_facts
from semtrace.telemetry.templates import mask_values

__all__ = ["MAX_ERROR_CHARS", "Cause", "cause_of", "duration_text", "is_cancel", "is_timeout"]

MAX_ERROR_CHARS = 300
MAX_FIELDS = 200  # input fields looked at for evidence, at most
_TIMEOUT_PARAMS = ("timeout", "timeout_s", "timeout_seconds", "read_timeout", "deadline")
_TIMEOUT_SAID = re.compile(r"\b(?:read |connect )?timeout=(\d+(?:\.\d+)?)")
_NONE_SAID = re.compile(r"'NoneType'|\bNone\b")


@dataclasses.dataclass(frozen=True)
class Cause:
    """A cause clause, its template, and the evidence fact it rests on (if any)."""

    text: str
    template: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)


def is_cancel(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError) or "Cancel" in type(exc).__name__


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


def duration_text(seconds: float) -> str:
    """'under 1 ms', '12 ms', '2.5 s', '3.1 min'."""
    if seconds < 0.001:
        return "under 1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def said(exc: BaseException) -> str:
    """What the exception said, on one line, cut to a readable length."""
    try:
        msg = " ".join(str(exc).split())
    except Exception:  # a broken __str__
        msg = ""
    if len(msg) > MAX_ERROR_CHARS:
        msg = msg[: MAX_ERROR_CHARS - 1] + "…"
    return msg


def _raised(exc: BaseException) -> tuple[str, str]:
    """``Type: message`` and its masked template, with the exception it was raised from."""
    name = type(exc).__name__
    msg = said(exc)
    text, tmpl = (f"{name}: {msg}", f"{name}: {mask_values(msg)}") if msg else (name, name)
    origin = exc.__cause__
    if origin is not None and not isinstance(origin, type(exc)):
        oname, osaid = type(origin).__name__, said(origin)
        text += f" (caused by {oname}: {osaid})" if osaid else f" (caused by {oname})"
        tmpl += f" (caused by {oname})"
    return text, tmpl


# -- where a None or a missing key sits in the call's input ---------------------------------


def _fields(arguments: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(path, name, value) of each argument and of the fields one level inside it."""
    count = 0
    for arg, value in arguments.items():
        yield arg, arg, value
        inner: Mapping[str, Any] | None = None
        if isinstance(value, Mapping):
            inner = value
            path = f"{arg}[{{!r}}]"
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            inner = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            path = f"{arg}.{{}}"
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            inner = {k: v for k, v in vars(value).items() if not k.startswith("_")}
            path = f"{arg}.{{}}"
        for key, item in (inner or {}).items():
            count += 1
            if count > MAX_FIELDS:
                return
            if isinstance(key, str):
                yield path.format(key), key, item


def _failing_lines(exc: BaseException) -> str:
    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except Exception:
        return ""
    return "\n".join(f.line or "" for f in frames[-3:])


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def _missing_key(exc: KeyError, arguments: Mapping[str, Any]) -> Cause | None:
    key = exc.args[0] if exc.args else None
    if not isinstance(key, str):
        return None
    for arg, value in arguments.items():
        if isinstance(value, Mapping) and key not in value:
            return Cause(
                f"the input {arg} has no {key!r}",
                f"the input {arg} has no {key!r}",
                {"missing_field": f"{arg}[{key!r}]"},
            )
    return None


def _none_field(exc: BaseException, arguments: Mapping[str, Any]) -> Cause | None:
    """The input field that was None, when the exception is about None and names or touches
    it (or it is the only None in the input)."""
    message = said(exc)
    if not _NONE_SAID.search(message) and not isinstance(exc, KeyError):
        return None
    nones = [(path, name) for path, name, value in _fields(arguments) if value is None]
    if not nones:
        return None
    lines = _failing_lines(exc)
    named = [p for p in nones if _mentions(message, p[1]) or _mentions(lines, p[1])]
    if len(named) == 1 or (not named and len(nones) == 1):
        path = (named or nones)[0][0]
        text = f"the input field {path} was None"
        return Cause(text, text, {"none_field": path})
    return None


def _validation(exc: BaseException) -> Cause | None:
    errors = getattr(exc, "errors", None)
    if not callable(errors) or "ValidationError" not in type(exc).__name__:
        return None
    try:
        first = errors()[0]
        loc = ".".join(str(part) for part in first.get("loc", ()))
        why = str(first.get("msg", "")).rstrip(".")
    except Exception:  # not pydantic's shape
        return None
    if not loc:
        return None
    return Cause(
        f"the field {loc} failed validation ({why})",
        f"the field {loc} failed validation ({mask_values(why)})",
        {"invalid_field": loc},
    )


def _http(exc: BaseException) -> Cause | None:
    facts = error_facts(exc)
    status = facts.get(sc.HTTP_RESPONSE_STATUS_CODE)
    if status is None:
        return None
    host = facts.get(sc.SERVER_ADDRESS)
    who = f"the service at {host}" if host else "the service it called"
    who_t = "the service at {host}" if host else who
    return Cause(
        f"{who} answered HTTP {status}",
        f"{who_t} answered HTTP {status}",
        {"http_status": status, **({"host": host} if host else {})},
    )


def _timeout(exc: BaseException, arguments: Mapping[str, Any]) -> Cause:
    """The timeout that elapsed: the call's ``timeout`` argument, else the one the message
    names (``read timeout=5``). How long the call ran is already in the sentence."""
    limit = next(
        (arguments[p] for p in _TIMEOUT_PARAMS if isinstance(arguments.get(p), int | float)),
        None,
    )
    if limit is None and (m := _TIMEOUT_SAID.search(said(exc))):
        limit = float(m.group(1))
    if limit is None:
        return Cause("it timed out", "it timed out")
    return Cause(
        f"its {limit:g} s timeout elapsed", "its {timeout} s timeout elapsed", {"timeout_s": limit}
    )


def cause_of(
    exc: BaseException, arguments: Mapping[str, Any] | None = None, who: str = "it"
) -> Cause:
    """The cause of ``exc`` raised by a call with ``arguments``; ``who`` names a deeper traced
    call the exception came from ("the tool lookup_vendor")."""
    if is_cancel(exc):
        return Cause(f"{who} was cancelled", f"{who} was cancelled")
    if isinstance(exc, KeyboardInterrupt):
        text = f"{who} was interrupted (KeyboardInterrupt)"
        return Cause(text, text)
    args = arguments or {}
    raised, raised_t = _raised(exc)
    evidence: Cause | None = None
    with_evidence = who == "it"  # an outer call repeats what the inner call found
    if with_evidence:
        if is_timeout(exc):
            evidence = _timeout(exc, args)
        elif isinstance(exc, KeyError):
            evidence = _missing_key(exc, args) or _none_field(exc, args)
        else:
            evidence = _validation(exc) or _http(exc) or _none_field(exc, args)
    if evidence is None:
        return Cause(f"{who} raised {raised}", f"{who} raised {raised_t}")
    return Cause(
        f"{evidence.text} ({raised})", f"{evidence.template} ({raised_t})", evidence.evidence
    )
