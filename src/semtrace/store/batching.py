"""A bounded queue drained by one background thread: how telemetry reaches storage without
blocking the program that makes it. What does not fit is dropped and counted, never waited on.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from semtrace._errors import handle_internal_errors

__all__ = ["MAX_BATCH_RECORDS", "MAX_QUEUED_RECORDS", "BatchQueue"]

# The documented bound on records waiting: in an agent's span and log queues, and in an
# owner's queue of records not yet committed (past it the agent drops and counts, the owner
# answers 429).
MAX_QUEUED_RECORDS = 16_384
MAX_BATCH_RECORDS = 2_048  # records handed to storage at a time from an agent's queue

T = TypeVar("T")


class BatchQueue(Generic[T]):
    """Collects items and hands them to ``flush`` in batches from a daemon thread."""

    def __init__(
        self,
        flush: Callable[[Sequence[T]], None],
        *,
        name: str = "semtrace-batch",
        max_queue: int = MAX_QUEUED_RECORDS,
        max_batch: int = MAX_BATCH_RECORDS,
        interval_s: float = 1.0,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._flush = flush
        self._on_drop = on_drop
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._interval_s = interval_s
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()
        self._stopped = False
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    @property
    def pending(self) -> int:
        """How many items wait to be flushed."""
        return len(self._items)

    def put(self, item: T) -> bool:
        """Queue one item; ``False`` (and counted) when the queue is full or stopped."""
        with self._cond:
            if self._stopped or len(self._items) >= self._max_queue:
                self.dropped += 1
                dropped = True
            else:
                dropped = False
                self._items.append(item)
                # Wake the writer once, when a full batch is first ready: after that it
                # keeps draining without waiting, so notifying again only costs the caller.
                if len(self._items) == self._max_batch:
                    self._cond.notify()
        if dropped and self._on_drop is not None:
            self._on_drop(1)
        return not dropped

    def _take(self) -> list[T]:
        with self._cond:
            n = min(len(self._items), self._max_batch)
            return [self._items.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopped and len(self._items) < self._max_batch:
                    self._cond.wait(self._interval_s)
                stopped = self._stopped
            self.flush()
            if stopped:
                return

    def flush(self, timeout_s: float = 30.0) -> None:
        """Write everything queued so far (called by the thread, at exit and by tests)."""
        deadline = time.monotonic() + timeout_s
        with self._flush_lock:
            while time.monotonic() < deadline:
                batch = self._take()
                if not batch:
                    return
                with handle_internal_errors("batch flush"):
                    try:
                        self._flush(batch)
                        self.written += len(batch)
                    except Exception:
                        self.failed += len(batch)
                        raise

    def shutdown(self) -> None:
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self.flush()
