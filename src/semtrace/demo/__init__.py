"""Built-in multi-agent scenarios that show semtrace end to end (``semtrace demo``).

Each scenario module is a readable example of instrumenting real agent code with the public
API: :mod:`~semtrace.demo.supervisor` (synchronous supervisor), :mod:`~semtrace.demo.choreography`
(asynchronous choreography over an event bus, a long-running task waiting on a human) and
:mod:`~semtrace.demo.broker` (routing by content, a rate-limited model healed at runtime).
:func:`run_demo` runs them into a DuckDB file and returns a :class:`DemoSummary`.
"""

from __future__ import annotations

from semtrace.demo.runner import DEFAULT_DB, DEFAULT_SEED, run_demo
from semtrace.demo.summary import DemoSummary

__all__ = ["DEFAULT_DB", "DEFAULT_SEED", "DemoSummary", "run_demo"]
