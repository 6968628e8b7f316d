"""``POST /v1/records?table=NAME``: rows for the tables semtrace's own tools write besides
spans and logs, while a collector owns the file (the one-writer rule).

Only ``diagnoses``, ``failure_fingerprints`` and ``heal_attempts`` accept rows (403 for any
other name); the body is one Arrow IPC stream (``application/vnd.apache.arrow.stream``)
whose columns must belong to the table; it is cast to the table's Arrow schema, as the store
declares it (400 when it cannot be), and appended in its own transaction, so a bad request can
never roll back the spans of another. Behind the same bearer token as every endpoint. The
client side is :class:`semtrace.collector.client.RecordsClient`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc

from semtrace.collector.extensions import HttpError, Request, Response
from semtrace.store import schema

__all__ = ["ARROW_STREAM", "RECORD_TABLES", "records_route"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
# The tables that accept records, with the Arrow schema (the store's declaration) rows are
# cast to.
RECORD_TABLES: dict[str, pa.Schema] = {
    t.name: t.arrow
    for t in (schema.DIAGNOSES_TABLE, schema.FINGERPRINTS_TABLE, schema.HEAL_ATTEMPTS_TABLE)
}


def _conform(table: pa.Table, want: pa.Schema) -> pa.Table:
    unknown = sorted(set(table.column_names) - set(want.names))
    if unknown:
        raise ValueError(f"columns {unknown} are not in the table")
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in want
    ]
    return pa.Table.from_arrays(columns, schema=want)


def records_route(request: Request) -> Response:
    """Serve one ``POST /v1/records`` (the token was checked by the caller)."""
    name = request.param("table") or ""
    if name not in RECORD_TABLES:
        raise HttpError(
            403,
            f"POST /v1/records takes rows for {', '.join(sorted(RECORD_TABLES))} only, "
            f"not {name!r}",
        )
    if request.content_type != ARROW_STREAM:
        raise HttpError(415, f"send the rows as one Arrow IPC stream ({ARROW_STREAM})")
    body = request.body()
    store = request.collector.store
    try:
        table = _conform(ipc.open_stream(body).read_all(), RECORD_TABLES[name])
    except (pa.ArrowException, ValueError) as exc:
        raise HttpError(400, f"the rows for {name} are not valid: {exc}") from None
    if table.num_rows:
        try:
            store.append_tables([(name, table)])
        except Exception as exc:
            raise HttpError(503, f"the rows could not be stored: {exc}") from None
        request.collector.hooks.committed([(name, table)])
    return Response.json({"table": name, "accepted": table.num_rows})
