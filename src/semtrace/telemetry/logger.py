"""``semtrace.get_logger()``: a structlog logger whose records are sentences in the store.

::

    log = semtrace.get_logger(agent="procurement")
    log.info("matched invoice to purchase order", invoice="INV-7", po="PO-1")
    log.failure(action="retrieve the vendor ID", cause="the Last-updated field was null",
                impact="no valid match could be made", vendor="ACME")
    with log.bind(invoice="INV-7"):       # facts for everything logged inside
        ...

Every record carries the current trace/span and agent, is redacted, queued for the ``logs``
table without blocking, and (warnings and up) added as an event to the current span. A
record below the configured level (``configure(log_level=...)``, ``SEMTRACE_LOG_LEVEL``,
INFO by default) is dropped before any of that. Logging never raises into the agent.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import structlog

from semtrace._async_with import AsyncWithFromSync
from semtrace._errors import handle_internal_errors
from semtrace.telemetry import processors as p
from semtrace.telemetry.sink import SINK

__all__ = ["PROCESSORS", "SemanticLogger", "get_logger"]


class _ConsoleSink:
    """What structlog calls with the rendered line: prints it to stderr."""

    def __getattr__(self, name: str) -> Any:
        return self._write

    @staticmethod
    def _write(line: Any = "", *args: Any, **kwargs: Any) -> None:
        import sys

        print(line, file=sys.stderr, flush=True)


PROCESSORS: tuple[Any, ...] = (*p.SEMTRACE_PROCESSORS, p.CONSOLE)
# The level filter runs first, in _emit, before the event dict is even built.
_STORE_CHAIN = PROCESSORS[1:-1]
_LEVEL_OF = p.METHOD_LEVELS
_SINK = _ConsoleSink()


class SemanticLogger(structlog.BoundLoggerBase, AsyncWithFromSync):
    """A bound logger with sentence-shaped methods; ``bind()`` also works as ``with``."""

    def __init__(self, logger: Any, processors: Any, context: Any) -> None:
        super().__init__(logger, processors, context)
        self._tokens: list[Mapping[str, contextvars.Token[Any]]] = []

    def _emit(self, method_name: str, event: Any, facts: dict[str, Any]) -> None:
        if _LEVEL_OF[method_name] < SINK.level:
            return  # below the level: no work at all
        try:
            if self._processors is PROCESSORS and not p.CONSOLE.enabled():
                # Off a TTY the console step would drop every record by raising DropEvent:
                # run the chain up to it (what _process_event does) and stop there.
                event_dict = self._context.copy()
                event_dict.update(facts)
                if event is not None:
                    event_dict["event"] = event
                logger = self._logger
                for proc in _STORE_CHAIN:
                    event_dict = proc(logger, method_name, event_dict)
                return
            args, kw = self._process_event(method_name, event, facts)
            getattr(self._logger, method_name)(*args, **kw)
        except structlog.DropEvent:
            return
        except Exception:
            # Entered only on the error path: a context manager per record costs ~1 µs.
            with handle_internal_errors("semantic log"):
                raise

    def debug(self, event: Any, /, **facts: Any) -> None:
        """A detail for whoever debugs this agent later."""
        self._emit("debug", event, facts)

    def info(self, event: Any, /, **facts: Any) -> None:
        """Something the agent did, as a sentence plus the facts it was made from."""
        self._emit("info", event, facts)

    def warning(self, event: Any, /, **facts: Any) -> None:
        """Something that went wrong without failing (also a span event)."""
        self._emit("warning", event, facts)

    warn = warning

    def error(self, event: Any, /, **facts: Any) -> None:
        """Something failed (also a span event)."""
        self._emit("error", event, facts)

    def critical(self, event: Any, /, **facts: Any) -> None:
        """Something failed that stops the agent (also a span event)."""
        self._emit("critical", event, facts)

    def exception(self, event: Any, /, **facts: Any) -> None:
        """An error with the exception being handled (type, message, traceback as facts)."""
        facts.setdefault("exc_info", True)
        self._emit("exception", event, facts)

    def failure(
        self,
        action: Any = None,
        cause: Any = None,
        impact: Any = None,
        **facts: Any,
    ) -> None:
        """Log "{agent} failed to {action} because {cause}, so {impact}." as an ERROR record."""
        facts.update(action=action, cause=cause, impact=impact)
        self._emit("failure", None, facts)

    # -- with log.bind(...): structlog's context variables ----------------------------------
    def __enter__(self) -> SemanticLogger:
        self._tokens.append(structlog.contextvars.bind_contextvars(**self._context))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The same bound logger may be entered from several tasks; reset the token that
        # belongs to this context.
        for i in range(len(self._tokens) - 1, -1, -1):
            try:
                structlog.contextvars.reset_contextvars(**self._tokens[i])
            except ValueError:
                continue
            del self._tokens[i]
            return


def get_logger(agent: str | None = None, **facts: Any) -> SemanticLogger:
    """A semantic logger, bound to ``agent`` (else the agent whose span is current) and facts."""
    context: dict[str, Any] = dict(facts)
    if agent is not None:
        context["agent"] = agent
    return SemanticLogger(_SINK, PROCESSORS, context)
