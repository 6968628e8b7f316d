"""Thread pools that keep the caller's trace context.

``ThreadPoolExecutor.submit`` and ``loop.run_in_executor`` run the function in a worker
thread with that thread's own (empty) context, so spans made there start new traces. The
executor here copies the submitting code's context into every call::

    with semtrace.context_executor(max_workers=4) as pool:
        results = list(pool.map(fetch_vendor, ids))          # children of the current span
    await loop.run_in_executor(pool, lookup, invoice_id)      # same for asyncio

For an executor you do not own, wrap the function instead: ``pool.submit(bind_context(fn))``.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

__all__ = ["ContextThreadPoolExecutor", "bind_context", "context_executor"]

P = ParamSpec("P")
R = TypeVar("R")


def bind_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the context of the code calling ``bind_context`` (now), wherever and
    in whichever thread it later runs."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        # A Context can be entered by one thread at a time: run each call in its own copy.
        return ctx.copy().run(fn, *args, **kwargs)

    return bound


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose ``submit`` (and so ``map`` and ``run_in_executor``)
    runs each call in a copy of the submitter's context: spans keep their parent."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)


def context_executor(
    max_workers: int | None = None, *, thread_name_prefix: str = "semtrace", **kwargs: Any
) -> ContextThreadPoolExecutor:
    """A thread pool that carries trace context into its workers (see the module doc)."""
    return ContextThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix=thread_name_prefix, **kwargs
    )
