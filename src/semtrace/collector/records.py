"""``POST /v1/records?table=NAME``: rows for the tables semtrace's own tools write besides
spans and logs, while a collector owns the file (the one-writer rule).

Only ``diagnoses``, ``failure_fingerprints`` and ``heal_attempts`` accept rows (403 for any
other name); the body is one Arrow IPC stream (``application/vnd.apache.arrow.stream``)
whose columns must belong to the table; it is cast to the table's Arrow schema (400 when it
cannot be) and appended in its own transaction, so a bad request can never roll back the
spans of another. Behind the same bearer token as every endpoint.

:class:`RecordsClient` is the other side: ``append_arrow(table_name, table)`` like a store.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import pyarrow as pa
import pyarrow.ipc as ipc

from semtrace.store import schema

if TYPE_CHECKING:
    from semtrace.collector._http import Handler

__all__ = ["ARROW_STREAM", "RecordsClient", "RecordsUnavailable", "handle_records", "schemas"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def schemas() -> dict[str, pa.Schema]:
    """The tables that accept records, with the Arrow schema rows are cast to."""
    return {
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


def handle_records(handler: Handler) -> None:
    """Serve one ``POST /v1/records`` (the token was checked by the caller)."""
    from semtrace.collector._http import HttpError, _media_type

    query = parse_qs(urlsplit(handler.path).query)
    name = (query.get("table") or [""])[0]
    allowed = schemas()
    if name not in allowed:
        handler._drain()
        raise HttpError(
            403, f"POST /v1/records takes rows for {', '.join(sorted(allowed))} only, not {name!r}"
        )
    if _media_type(handler.headers.get("Content-Type")) != ARROW_STREAM:
        handler._drain()
        raise HttpError(415, f"send the rows as one Arrow IPC stream ({ARROW_STREAM})")
    body = handler._read_body()
    try:
        table = _conform(ipc.open_stream(body).read_all(), allowed[name])
    except (pa.ArrowException, ValueError) as exc:
        raise HttpError(400, f"the rows for {name} are not valid: {exc}") from None
    if table.num_rows:
        try:
            handler.app.ingest.store.append_tables([(name, table)])
        except Exception as exc:
            raise HttpError(503, f"the rows could not be stored: {exc}") from None
    handler._send_json(200, {"table": name, "accepted": table.num_rows})


class RecordsUnavailable(Exception):
    """The collector did not take the rows (no such endpoint, refused, or unreachable)."""


class RecordsClient:
    """Append rows to a collector-owned database over ``/v1/records``, like a store."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def append_arrow(self, table_name: str, table: pa.Table) -> None:
        """Send ``table`` for ``table_name``; :class:`RecordsUnavailable` when not stored."""
        from semtrace.collector.client import _auth_headers

        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        request = urllib.request.Request(
            f"{self.url}/v1/records?table={quote(table_name)}",
            data=sink.getvalue().to_pybytes(),
            headers={"Content-Type": ARROW_STREAM, **_auth_headers(self.token)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise RecordsUnavailable(f"the collector answered {exc.code}: {detail}") from None
        except OSError as exc:
            raise RecordsUnavailable(f"the collector could not be reached: {exc}") from None
