"""``POST /v1/batches``: Arrow batches from semtrace's own writers (the owner transport).

An agent in owner mode sends the tables it built (spans with their events and links, logs,
and the other tables semtrace writes) as one framed body (see
:func:`semtrace.store.spool.encode_tables`), with the batch's id in ``X-Semtrace-Batch``. The
owner commits them in its group commit, together with the id (``semtrace_batches``), and
answers only then. A replayed batch (``X-Semtrace-Replay: 1``) whose id was already committed
is acknowledged without storing it again. The sender side is
:class:`semtrace.store.remote.RemoteWriter`.
"""

from __future__ import annotations

import re
import time

import pyarrow as pa

from semtrace.collector._workers import DecodedTables
from semtrace.collector.extensions import HttpError, Request, Response
from semtrace.store import schema
from semtrace.store.remote import BATCH_HEADER, BATCH_TYPE, REPLAY_HEADER, WRITER_HEADER
from semtrace.store.spool import decode_tables

__all__ = ["batches_route"]

_ROOM_WAIT_S = 2.0
_BATCH_ID = re.compile(r"^[0-9a-zA-Z_-]{1,64}$")
# What a writer may send: the contract's tables, not the bookkeeping of schema versions.
_ACCEPTED = {name: t for name, t in schema.DECLARED.items() if name != schema.SEMTRACE_BATCHES}


def _check(tables: list[tuple[str, pa.Table]]) -> None:
    for name, table in tables:
        declared = _ACCEPTED.get(name)
        if declared is None:
            raise HttpError(400, f"{name!r} is not a table a batch may write")
        unknown = sorted(set(table.column_names) - set(declared.names))
        if unknown:
            raise HttpError(400, f"columns {unknown} are not in {name}")


def batches_route(request: Request) -> Response:
    """Serve one ``POST /v1/batches`` (the token was checked by the caller)."""
    if request.content_type != BATCH_TYPE:
        raise HttpError(415, f"send a semtrace batch ({BATCH_TYPE})")
    batch_id = request.headers.get(BATCH_HEADER) or ""
    if not _BATCH_ID.match(batch_id):
        raise HttpError(400, f"{BATCH_HEADER} must be an id of 1 to 64 letters and digits")
    replay = request.headers.get(REPLAY_HEADER) == "1"
    # A writer's connections (it has several requests out at once) count as one writer.
    writer = (request.headers.get(WRITER_HEADER) or "")[:64]
    request.connection["writer"] = writer or f"connection {id(request.connection)}"
    app = request.collector
    duplicate = False

    def decode() -> DecodedTables:
        nonlocal duplicate
        try:
            tables = decode_tables(request.body())
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        _check(tables)
        if replay and app.store.has_batch(batch_id):
            duplicate = True
            return DecodedTables()
        ids = pa.table(
            {"batch_id": [batch_id], "committed_at": [int(time.time() * 1_000_000)]},
            schema=schema.BATCHES_TABLE.arrow,
        )
        records = sum(t.num_rows for name, t in tables if name in (schema.SPANS, schema.LOGS))
        return DecodedTables(tables=[*tables, (schema.SEMTRACE_BATCHES, ids)], records=records)

    # A semtrace writer told 429 would wait and send the same batch again: the owner waits
    # for room itself (a commit frees it in well under this), the body already read.
    decoded = app.admit(decode, room_wait_s=_ROOM_WAIT_S)
    return Response.json({"batch": batch_id, "records": decoded.records, "duplicate": duplicate})
