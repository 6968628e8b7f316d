"""Rendering: a log call becomes a sentence (``message``) and its low-cardinality ``template``.

``failure(action, cause, impact)`` renders "The procurement agent failed to retrieve the vendor
ID because the Last-updated field was null, so no valid match could be made." Its template
keeps the action, cause and impact as written, with the values in them masked ("{agent}
failed to retrieve the vendor ID because the ERP returned 503 after <n> retries."), so
``group by template`` counts kinds of failure and two causes never share one. A message may
name facts in braces (``"matched {invoice} to {po}"``); the template keeps the braces, the
message gets the values. Error sentences written by hand get the same masking.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from semtrace.telemetry.templates import mask_values

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_VALUE_CHARS",
    "Rendered",
    "agent_phrase",
    "fold_failure_logs",
    "json_safe",
    "render_failure",
    "render_message",
    "safe_text",
    "truncate",
]

MAX_MESSAGE_CHARS = 4_000
MAX_VALUE_CHARS = 2_000
MAX_ITEMS = 100
MAX_DEPTH = 6
MAX_TEMPLATE_CHARS = 500
UNKNOWN_CAUSE = "the cause is unknown"


@dataclass(frozen=True)
class Rendered:
    """A rendered sentence and the template it came from."""

    message: str
    template: str


def truncate(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much was left out."""
    if len(text) <= limit or text.startswith("…[truncated ", limit):  # already cut here
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def _repr(value: Any) -> str:
    try:
        return truncate(repr(value))
    except Exception:  # a broken __repr__ must not break logging
        return f"<unrepresentable {type(value).__name__}>"


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as something JSON holds: non-JSON values by ``repr``, huge ones truncated."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return truncate(value)
    if depth >= MAX_DEPTH:
        return _repr(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"[truncated {len(value) - MAX_ITEMS} items]"
                break
            out[str(k)] = json_safe(v, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        safe = [json_safe(v, depth + 1) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            safe.append(f"…[truncated {len(items) - MAX_ITEMS} items]")
        return safe
    if isinstance(value, bytes | bytearray):
        return _repr(bytes(value))
    return _repr(value)


def safe_text(value: Any) -> str:
    """``str(value)``, truncated; the repr (or a placeholder) when ``__str__`` raises."""
    if isinstance(value, str):
        return value
    try:
        return truncate(str(value))
    except Exception:  # a broken __str__ must not break logging
        return _repr(value)


def agent_phrase(agent: str) -> str:
    """'procurement' -> 'the procurement agent' ('ProcurementAgent' -> 'the ProcurementAgent')."""
    return f"the {agent}" if agent.lower().endswith("agent") else f"the {agent} agent"


def _clause(text: Any, *prefixes: str) -> str:
    clause = " ".join(safe_text(text).split()).rstrip(".;, ")
    for prefix in prefixes:
        if clause.lower().startswith(prefix):
            clause = clause[len(prefix) :].lstrip()
    return clause


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _filled(clause: str, facts: Mapping[str, Any]) -> tuple[str, str]:
    """A clause with its ``{fact}`` placeholders filled, and its masked template form."""
    rendered = render_message(clause, facts) if "{" in clause else Rendered(clause, clause)
    return rendered.message, mask_values(rendered.template)


def render_failure(
    agent: str | None,
    action: Any,
    cause: Any,
    impact: Any,
    facts: Mapping[str, Any] | None = None,
) -> Rendered:
    """The sentence for a failure: who failed to do what, why, and what it means.

    The template keeps the clauses as written with their values masked; ``{name}``
    placeholders in a clause are filled from ``facts`` in the sentence and kept in the template.
    """
    facts = facts or {}
    if action in (None, ""):
        act = act_t = "do its work"
    else:
        act, act_t = _filled(_clause(action, "to "), facts)
    who, who_t = (agent_phrase(agent), "{agent}") if agent else ("", "")
    text = f"{who} failed to {act}".strip()
    tmpl = f"{who_t} failed to {act_t}".strip()
    if cause in (None, ""):
        text += f"; {UNKNOWN_CAUSE}"
        tmpl += f"; {UNKNOWN_CAUSE}"
    else:
        said, said_t = _filled(_clause(cause, "because "), facts)
        text += f" because {said}"
        tmpl += f" because {said_t}"
    if impact not in (None, ""):
        so, so_t = _filled(_clause(impact, "so "), facts)
        text += f", so {so}"
        tmpl += f", so {so_t}"
    return Rendered(
        truncate(_capital(text) + ".", MAX_MESSAGE_CHARS),
        truncate(_capital(tmpl) + ".", MAX_TEMPLATE_CHARS),
    )


class _Facts(dict[str, Any]):
    """Format arguments where an unknown name stays as ``{name}``."""

    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render_message(
    event: Any, facts: Mapping[str, Any], agent: str | None = None, *, mask: bool = False
) -> Rendered:
    """A message as given; ``{name}`` placeholders are filled from ``facts`` when all exist.
    With ``mask`` (error sentences), the template has its values masked."""
    if not isinstance(event, str):
        text = _repr(event) if event is not None else ""
        return Rendered(text, mask_values(text) if mask else text)
    template = mask_values(event) if mask else event
    if "{" in event:
        values = _Facts(facts)
        if agent is not None:
            values.setdefault("agent", agent)
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(event) if f is not None]
            if fields and all(f and f.split(".")[0].split("[")[0] in values for f in fields):
                message = event.format_map(values)
                return Rendered(
                    truncate(message, MAX_MESSAGE_CHARS), truncate(template, MAX_TEMPLATE_CHARS)
                )
        except (ValueError, KeyError, IndexError, AttributeError, TypeError):
            pass
    return Rendered(truncate(event, MAX_MESSAGE_CHARS), truncate(template, MAX_TEMPLATE_CHARS))


_CUT_MARK = re.compile(r"…\[truncated \d+ chars\]$")  # the store's cut of a long status


def fold_failure_logs(
    spans: list[dict[str, Any]], logs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For a trace view: a failed span's status says its failure sentence, and the ERROR log
    written for it says the same sentence with its impact. Each such log becomes the span's
    ``status_message`` (so one line says all of it); the other logs are returned."""
    by_id = {s["span_id"]: s for s in spans}
    rest = []
    for log in logs:
        span = by_id.get(log.get("span_id"))
        said = _CUT_MARK.sub("", (span or {}).get("status_message") or "").removesuffix(".")
        message = log.get("message") or ""
        if span is not None and said and message.startswith(said):
            span["status_message"] = message
            continue
        rest.append(log)
    return rest
