"""Telemetry never crashes the host program, yet tests see every internal bug.

Code that runs inside the observed program (exporters, processors, log rendering) wraps its
work in :func:`handle_internal_errors`: the error is counted and logged once per kind; when
``SEMTRACE_RAISE_INTERNAL_ERRORS=1`` (the test suite sets it) it is re-raised instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "ENV_RAISE",
    "error_type",
    "handle_internal_errors",
    "internal_error",
    "internal_error_counts",
    "raise_internal_errors",
]

ENV_RAISE = "SEMTRACE_RAISE_INTERNAL_ERRORS"
_log = logging.getLogger("semtrace.internal")
_counts: Counter[str] = Counter()
_lock = threading.Lock()


# Modules whose exceptions are known by their bare names (``KeyError``, ``TimeoutError``).
_BARE_MODULES = frozenset({"builtins", "asyncio.exceptions"})


def error_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception, the same on spans and on logs: the class name for
    builtins and asyncio's (``KeyError``, ``CancelledError``), else the fully qualified name
    (``requests.exceptions.ReadTimeout``), as OpenTelemetry recommends."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in _BARE_MODULES else f"{module}.{cls.__qualname__}"


def raise_internal_errors() -> bool:
    return os.environ.get(ENV_RAISE, "").lower() in {"1", "true", "yes"}


def internal_error_counts() -> dict[str, int]:
    """How many internal errors of each kind were swallowed, by ``where: ExceptionType``."""
    with _lock:
        return dict(_counts)


def internal_error(where: str, exc: Exception) -> None:
    """Count ``exc``, caught in ``where``, and log the first of its kind; re-raise it when
    the test suite asks. For hot paths that catch inline (``except Exception as exc:``)
    rather than pay for a context manager on every call."""
    key = f"{where}: {type(exc).__name__}"
    with _lock:
        _counts[key] += 1
        first = _counts[key] == 1
    if raise_internal_errors():
        raise exc
    if first:
        _log.warning("semtrace internal error in %s (further ones counted)", where, exc_info=exc)


@contextmanager
def handle_internal_errors(where: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        internal_error(where, exc)
