"""Talking to a collector from another process: span export, log export, SQL queries.

``configure()`` uses the two factories when spans go to a collector (``endpoint=`` or a
collector announced it owns the file); ``semtrace.connect()`` and ``semtrace sql`` use
:func:`connect_via_collector` so queries work while the collector holds the file.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.ipc as ipc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from semtrace import semconv as sc
from semtrace.exceptions import QueryError
from semtrace.store.model import LogRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from semtrace.collector.announce import Announcement
    from semtrace.tracer.setup import Settings

__all__ = [
    "CollectorConnection",
    "CollectorResult",
    "RecordsClient",
    "RecordsUnavailable",
    "connect_via_collector",
    "encode_logs",
    "otlp_log_flush_factory",
    "otlp_span_exporter_factory",
]

ENV_TOKEN = "SEMTRACE_TOKEN"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
_log = logging.getLogger("semtrace.collector")


def _auth_headers(token: str | None = None) -> dict[str, str]:
    token = token or os.environ.get(ENV_TOKEN)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _signal_url(endpoint: str, signal: str) -> str:
    base = endpoint.rstrip("/")
    for suffix in ("/v1/traces", "/v1/logs", "/v1/query"):
        base = base.removesuffix(suffix)
    return f"{base}/v1/{signal}"


def otlp_span_exporter_factory(settings: Settings) -> SpanExporter:
    """The standard OTLP/HTTP protobuf exporter, pointed at the collector's ``/v1/traces``."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    assert settings.endpoint is not None
    return OTLPSpanExporter(
        endpoint=_signal_url(settings.endpoint, "traces"), headers=_auth_headers()
    )


def _any(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, str):
        return common_pb2.AnyValue(string_value=value)
    if isinstance(value, bytes):
        return common_pb2.AnyValue(bytes_value=value)
    if isinstance(value, list | tuple):
        return common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[_any(v) for v in value])
        )
    if isinstance(value, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=_kvs(value)))
    return common_pb2.AnyValue(string_value=str(value))


def _kvs(attrs: Any) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=str(k), value=_any(v)) for k, v in attrs.items()]


def encode_logs(records: Sequence[LogRecord], service_name: str | None = None) -> bytes:
    """An OTLP ``ExportLogsServiceRequest`` for semtrace log records (facts kept as attributes)."""
    by_service: dict[str | None, list[logs_pb2.LogRecord]] = {}
    for r in records:
        attrs = dict(r.attributes)
        for key, value in (
            (sc.SEMTRACE_LOG_ID, r.log_id),
            (sc.SEMTRACE_LOG_TEMPLATE, r.template),
            (sc.SEMTRACE_LOG_ACTION, r.action),
            (sc.SEMTRACE_LOG_CAUSE, r.cause),
            (sc.SEMTRACE_LOG_IMPACT, r.impact),
            (sc.SEMTRACE_AGENT_NAME, r.agent_name),
        ):
            if value is not None:
                attrs[key] = value
        by_service.setdefault(r.service_name or service_name, []).append(
            logs_pb2.LogRecord(
                time_unix_nano=r.time_ns,
                observed_time_unix_nano=r.time_ns,
                severity_number=r.number(),  # type: ignore[arg-type]
                severity_text=r.severity,
                body=common_pb2.AnyValue(string_value=r.message),
                attributes=_kvs(attrs),
                trace_id=bytes.fromhex(r.trace_id) if r.trace_id else b"",
                span_id=bytes.fromhex(r.span_id) if r.span_id else b"",
                event_name=r.event_name or "",
            )
        )
    req = logs_service_pb2.ExportLogsServiceRequest()
    for service, logs in by_service.items():
        rl = req.resource_logs.add()
        if service:
            rl.resource.CopyFrom(resource_pb2.Resource(attributes=_kvs({sc.SERVICE_NAME: service})))
        sl = rl.scope_logs.add()
        sl.scope.name = "semtrace"
        sl.log_records.extend(logs)
    return req.SerializeToString()


def _post(
    url: str, body: bytes, content_type: str, timeout_s: float
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type, **_auth_headers()}
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def otlp_log_flush_factory(settings: Settings) -> Callable[[Sequence[LogRecord]], None]:
    """A flush function posting batches of log records to the collector's ``/v1/logs``."""
    assert settings.endpoint is not None
    url = _signal_url(settings.endpoint, "logs")
    service = settings.service_name

    def flush(records: Sequence[LogRecord]) -> None:
        status, _, body = _post(url, encode_logs(records, service), "application/x-protobuf", 10.0)
        if status != 200:
            raise RuntimeError(f"the collector at {url} answered {status}: {body[:200]!r}")

    return flush


# -- SQL through the collector ----------------------------------------------------------------


class CollectorResult:
    """A query result fetched from the collector (the parts of a DuckDB relation we need)."""

    def __init__(self, table: pa.Table, truncated: bool = False) -> None:
        self._table = table
        self.truncated = truncated
        self._cursor = 0

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    def to_arrow_table(self) -> pa.Table:
        return self._table

    def arrow(self) -> pa.Table:
        return self._table

    def fetch_arrow_table(self) -> pa.Table:
        return self._table

    def df(self) -> Any:
        return self._table.to_pandas()

    def pl(self) -> Any:
        import polars as pl  # optional, as with DuckDB's own .pl()

        return pl.from_arrow(self._table)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows()[self._cursor :]
        self._cursor += len(rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._rows()
        if self._cursor >= len(rows):
            return None
        self._cursor += 1
        return rows[self._cursor - 1]

    def _rows(self) -> list[tuple[Any, ...]]:
        cols = [c.to_pylist() for c in self._table.columns]
        return list(zip(*cols, strict=True)) if cols else []

    def __len__(self) -> int:
        return self._table.num_rows

    def __repr__(self) -> str:
        return f"CollectorResult({self._table.num_rows} rows: {', '.join(self.columns)})"


class CollectorConnection:
    """Read-only SQL over a collector's ``/v1/query``, shaped like a DuckDB connection."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def sql(self, query: str, params: Sequence[Any] | None = None) -> CollectorResult:
        """Run one read-only query on the collector; QueryError with its reason on failure."""
        doc: dict[str, Any] = {"sql": query, "format": "arrow"}
        if params:
            doc["params"] = list(params)
        headers = {"Content-Type": "application/json", **_auth_headers(self.token)}
        req = urllib.request.Request(
            f"{self.url}/v1/query", data=orjson.dumps(doc, default=str), headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = resp.read()
                truncated = resp.headers.get("X-Semtrace-Truncated") == "true"
        except urllib.error.HTTPError as exc:
            raise QueryError(_error_text(exc.read(), exc.code)) from None
        except OSError as exc:
            raise QueryError(f"the collector at {self.url} is not reachable: {exc}") from None
        table = pa.ipc.open_stream(body).read_all()
        if truncated:
            _log.warning("semtrace: the collector truncated the result to %d rows", table.num_rows)
        return CollectorResult(table, truncated)

    def execute(self, query: str, params: Sequence[Any] | None = None) -> CollectorResult:
        return self.sql(query, params)

    def cursor(self) -> CollectorConnection:
        return self

    def close(self) -> None:
        """Nothing to release: each query is one HTTP request."""

    def __enter__(self) -> CollectorConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_text(body: bytes, status: int) -> str:
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and doc.get("message"):
            return str(doc["message"])
    except orjson.JSONDecodeError:
        pass
    return f"the collector answered HTTP {status}: {body[:300]!r}"


def connect_via_collector(announcement: Announcement) -> CollectorConnection:
    """A query connection to the collector that announced it owns a database file."""
    return CollectorConnection(announcement.url)


# -- rows for diagnoses and heal attempts ---------------------------------------------------


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
