"""``heal_attempts`` rows: queued by the healing step, written in batches off its thread.

A heal attempt must not wait on the database (a commit per attempt cost the agent several
milliseconds, tens under load). Rows go to a bounded :class:`BatchQueue` per database file and
reach it through the process' resilient writer (spooled while the file is unavailable, like
spans and logs). ``semtrace.force_flush()`` and ``semtrace.shutdown()`` drain the queues.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from semtrace.store import schema
from semtrace.store.batching import BatchQueue
from semtrace.store.resilient import get_writer
from semtrace.tracer.setup import STATE

__all__ = ["HEAL_ATTEMPTS_SCHEMA", "collector_write", "enqueue", "flush", "shutdown", "table_of"]

HEAL_ATTEMPTS_SCHEMA = schema.HEAL_ATTEMPTS_TABLE.arrow

_MAX_QUEUE = 8_192  # rows; what does not fit is dropped and counted (BatchQueue.dropped)
_lock = threading.Lock()
_queues: dict[str, BatchQueue[dict[str, Any]]] = {}
_hooked = False


def table_of(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """The Arrow table of ``heal_attempts`` rows."""
    return pa.Table.from_arrays(
        [pa.array([r.get(f.name) for r in rows], type=f.type) for f in HEAL_ATTEMPTS_SCHEMA],
        schema=HEAL_ATTEMPTS_SCHEMA,
    )


def _writer_flush(db: str) -> Callable[[Sequence[dict[str, Any]]], None]:
    def write(rows: Sequence[dict[str, Any]]) -> None:
        get_writer(db).write_tables([(schema.HEAL_ATTEMPTS, table_of(rows))])

    return write


def collector_write(endpoint: str) -> Callable[[Sequence[dict[str, Any]]], None]:
    """A batch writer that sends rows to the collector at ``endpoint`` (``/v1/records``)."""
    from semtrace.collector.client import RecordsClient

    base = endpoint.rstrip("/")
    for suffix in ("/v1/traces", "/v1/logs"):
        base = base.removesuffix(suffix)
    client = RecordsClient(base)

    def write(rows: Sequence[dict[str, Any]]) -> None:
        client.append_arrow(schema.HEAL_ATTEMPTS, table_of(rows))

    return write


def _install_hooks() -> None:
    global _hooked
    if _hooked:
        return
    on_flush = getattr(STATE, "on_flush", None)
    if on_flush is not None:
        on_flush.append(flush)
    STATE.on_shutdown.append(shutdown)
    _hooked = True


def enqueue(key: str, row: dict[str, Any], *, collector: bool = False) -> bool:
    """Queue one row for the database file ``key`` (through its resilient writer) or, with
    ``collector=True``, for the collector at URL ``key``; ``False`` when the queue is full
    (the row is dropped and counted)."""
    queue = _queues.get(key)
    if queue is None:
        with _lock:
            queue = _queues.get(key)
            if queue is None:
                _install_hooks()
                queue = _queues[key] = BatchQueue(
                    collector_write(key) if collector else _writer_flush(key),
                    name="semtrace-heal-attempts",
                    max_queue=_MAX_QUEUE,
                    max_batch=1_024,
                    interval_s=1.0,
                )
    return queue.put(row)


def dropped() -> int:
    """Rows dropped because a queue was full, since the last shutdown."""
    return sum(q.dropped for q in list(_queues.values()))


def flush() -> None:
    """Write every queued row now (``semtrace.force_flush()`` calls this)."""
    for queue in list(_queues.values()):
        queue.flush()


def shutdown() -> None:
    """Write what is queued and stop the queues (``semtrace.shutdown()`` calls this)."""
    with _lock:
        queues = list(_queues.values())
        _queues.clear()
    for queue in queues:
        queue.shutdown()
