"""The HTTP side of the collector: one handler class that dispatches to routes.

Every endpoint is a route (:mod:`semtrace.collector.extensions`): the built-in ones below
(OTLP traces and logs, SQL, health) and any another module registers. The handler checks the
token, reads bodies within the size limit (``Content-Length`` or chunked, inflated when
compressed), and turns a refusal into a ``google.rpc.Status`` body in the request's
content type.
"""

from __future__ import annotations

import hmac
import logging
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pyarrow as pa
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from semtrace.collector import otlp_decode
from semtrace.collector._workers import DecodedTables, PoolBroken, decode_to_tables
from semtrace.collector.extensions import JSON, HttpError, Request, Response
from semtrace.collector.sql import QueryRefused, QueryTimeout

if TYPE_CHECKING:
    from semtrace.collector.server import Collector

__all__ = [
    "ARROW_STREAM",
    "BUILTIN_ROUTES",
    "JSON",
    "PROTOBUF",
    "Handler",
    "HttpError",
    "Server",
    "media_type",
]

PROTOBUF = "application/x-protobuf"
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_log = logging.getLogger("semtrace.collector")


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
    request_queue_size = 128  # the default 5 resets bursts of exporters connecting at once
    block_on_close = True
    collector: Collector


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header, lower case, without parameters."""
    return (header or "").split(";", 1)[0].strip().lower()


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate ``body``; a result over ``limit`` bytes (a gzip bomb, say) is a 413."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
    if encoding not in wbits:
        raise HttpError(415, f"Content-Encoding {encoding!r} is not supported (gzip, deflate)")
    d = zlib.decompressobj(wbits[encoding])
    try:
        out = d.decompress(body, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise HttpError(413, f"the decompressed body is over the {limit}-byte limit")
        out += d.flush()
    except zlib.error as exc:
        raise HttpError(400, f"the body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise HttpError(413, f"the decompressed body is over the {limit}-byte limit")
    if not d.eof:
        raise HttpError(400, f"the {encoding} body is truncated")
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
    server_version = "semtrace"
    server: Server
    busy = False
    _body_consumed = False

    def setup(self) -> None:
        super().setup()
        self.state: dict[str, Any] = {}  # per connection, for routes (Request.connection)
        self.server.collector.register(self, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.collector.register(self, False)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.busy = False

    def parse_request(self) -> bool:
        self.busy = True
        return super().parse_request()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def app(self) -> Collector:
        return self.server.collector

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.app.closing or self.close_connection:
            self.send_header("Connection", "close")  # also sets close_connection
        self.end_headers()
        self.wfile.write(body)

    def _send_status(self, err: HttpError, content_type: str) -> None:
        """An OTLP error: ``google.rpc.Status`` in the request's content type."""
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
        if content_type == PROTOBUF:
            status = status_pb2.Status(code=_rpc_code(err.status), message=err.message)
            self._send(err.status, status.SerializeToString(), PROTOBUF, headers)
        else:
            doc = {"code": _rpc_code(err.status), "message": err.message}
            self._send(err.status, orjson.dumps(doc), JSON, headers)

    def _check_token(self) -> None:
        token = self.app.config.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), token):
            raise HttpError(401, "a bearer token is required: Authorization: Bearer <token>")

    def _read_body(self) -> bytes:
        """The body, ``Content-Length`` or chunked, within the size limit, inflated."""
        if self._body_consumed:
            raise HttpError(500, "the request body was read twice")
        # One attempt only: after a refusal mid-body the connection is closed, never read on.
        self._body_consumed = True
        limit = self.app.config.max_body_bytes
        if self.headers.get("Transfer-Encoding", "").strip().lower() == "chunked":
            body = self._read_chunked(limit)
        else:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                self.close_connection = True
                raise HttpError(400, "Content-Length is not a number") from None
            if length > limit:
                self.close_connection = True  # the unread body must not be taken as a request
                raise HttpError(413, f"the body is over the {limit}-byte limit")
            body = self.rfile.read(length) if length > 0 else b""
            if len(body) < length:
                self.close_connection = True
                raise HttpError(400, "the body ended before its Content-Length")
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding and encoding != "identity":
            body = _decompress(body, encoding, limit)
        return body

    def _read_chunked(self, limit: int) -> bytes:
        """A chunked body (RFC 9112 section 7.1), refused with 413 once past ``limit``."""
        parts: list[bytes] = []
        total = 0
        self.close_connection = True  # until the last chunk and the trailers are read
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(400, "a chunk size is not a hex number") from None
            if size < 0:
                raise HttpError(400, "a chunk size is negative")
            if size == 0:
                break
            total += size
            if total > limit:
                raise HttpError(413, f"the body is over the {limit}-byte limit")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise HttpError(400, "a chunk is truncated")
            parts.append(chunk)
        for _ in range(64):  # trailer fields, up to the empty line
            trailer = self.rfile.readline(8194)
            if trailer in (b"\r\n", b"\n", b""):
                break
        else:
            raise HttpError(400, "too many trailer fields")
        self.close_connection = False
        return b"".join(parts)

    def _drain(self) -> None:
        """Read (and drop) a body we will not use, so the connection stays usable."""
        try:
            self._read_body()
        except HttpError:
            self.close_connection = True

    # -- dispatch ---------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        ctype = media_type(self.headers.get("Content-Type"))
        reply_type = PROTOBUF if ctype == PROTOBUF else JSON
        self._body_consumed = False
        self.app.touch()
        try:
            self._check_token()
            route = self.app.routes.get(method, path)
            if route is None:
                raise HttpError(404, f"no such endpoint: {method} {split.path}")
            request = Request(
                method=method,
                path=path,
                query=parse_qs(split.query),
                headers=self.headers,
                collector=self.app,
                read_body=self._read_body,
                content_type=ctype,
                connection=self.state,
            )
            response = route(request)
            if not self._body_consumed:
                self._drain()
            self._send(response.status, response.body, response.content_type, response.headers)
        except HttpError as err:
            if not self._body_consumed:
                if err.status == 401:
                    self.close_connection = True  # never read what a stranger sends
                else:
                    self._drain()
            self._send_status(err, reply_type)


# -- built-in routes ------------------------------------------------------------------------


def _health(request: Request) -> Response:
    return Response.json(request.collector.health())


def _metrics(request: Request) -> Response:
    raise HttpError(
        404, "semtrace stores traces and logs, not metrics; send metrics to another backend"
    )


def _otlp(signal: str) -> Callable[[Request], Response]:
    def route(request: Request) -> Response:
        return _otlp_export(request, signal)

    return route


def _otlp_export(request: Request, signal: str) -> Response:
    """``POST /v1/traces`` or ``/v1/logs``: decode, queue for the group commit, answer 200
    once committed."""
    app = request.collector
    ctype = request.content_type
    if ctype not in (PROTOBUF, JSON):
        raise HttpError(
            415,
            f"Content-Type {ctype or '(none)'!r} is not supported; "
            "send application/x-protobuf or application/json",
        )
    decoded = app.admit(lambda: _decode(request, signal))
    if signal == "traces":
        response: Any = trace_service_pb2.ExportTraceServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = "; ".join(decoded.errors)
    else:
        response = logs_service_pb2.ExportLogsServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_log_records = decoded.rejected
            response.partial_success.error_message = "; ".join(decoded.errors)
    if ctype == PROTOBUF:
        return Response(200, response.SerializeToString(), PROTOBUF)
    return Response.json(_response_json(response, signal, decoded))


def _decode(request: Request, signal: str) -> DecodedTables:
    app = request.collector
    body = request.body()
    started = time.perf_counter()
    try:
        if app.pool is not None:
            return app.pool.decode(signal, request.content_type, body)
        # Decode and build the Arrow tables here, not in the writer: the writer then only
        # appends (DuckDB, without the GIL) while the next request is being decoded.
        with app.decoding_slot():
            return decode_to_tables(signal, request.content_type, body)
    except otlp_decode.DecodeError as exc:
        raise HttpError(400, str(exc)) from None
    except PoolBroken as exc:
        raise HttpError(503, str(exc), retry_after=app.config.retry_after_s) from None
    except HttpError:
        raise
    except Exception as exc:  # building the rows failed: the sender may retry
        _log.error("semtrace collector: building rows failed", exc_info=True)
        raise HttpError(
            503, f"the records could not be stored: {exc}", retry_after=app.config.retry_after_s
        ) from None
    finally:
        app.ingest.stats.add_decode(time.perf_counter() - started)


def _query(request: Request) -> Response:
    """``POST /v1/query``: read-only SQL, as JSON rows or an Arrow stream."""
    doc = request.json() or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("sql"), str):
        raise HttpError(400, 'send {"sql": "select ...", "format": "json" or "arrow"}')
    params = doc.get("params")
    if params is not None and not isinstance(params, list):
        raise HttpError(400, "params must be a JSON array")
    limit = doc.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise HttpError(400, "limit must be a non-negative integer")
    fmt = doc.get("format", "json")
    app = request.collector
    try:
        result = app.sandbox.run(doc["sql"], params, limit=limit)
    except QueryRefused as exc:
        raise HttpError(400, str(exc)) from None
    except QueryTimeout as exc:
        raise HttpError(408, str(exc)) from None
    except Exception as exc:  # a DuckDB error is the user's SQL: say what DuckDB said
        raise HttpError(400, f"{type(exc).__name__}: {exc}") from None
    headers = {
        "X-Semtrace-Truncated": "true" if result.truncated else "false",
        "X-Semtrace-Rows": str(result.table.num_rows),
    }
    table = result.table
    if fmt == "arrow":
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(200, sink.getvalue().to_pybytes(), ARROW_STREAM, headers)
    return Response.json(
        {
            "columns": table.column_names,
            "types": [str(t) for t in table.schema.types],
            "rows": [list(r) for r in zip(*(c.to_pylist() for c in table.columns), strict=True)]
            if table.num_columns
            else [],
            "truncated": result.truncated,
        },
        headers=headers,
    )


BUILTIN_ROUTES: list[tuple[str, str, Callable[[Request], Response]]] = [
    ("GET", "/health", _health),
    ("POST", "/v1/traces", _otlp("traces")),
    ("POST", "/v1/logs", _otlp("logs")),
    ("POST", "/v1/metrics", _metrics),
    ("POST", "/v1/query", _query),
]


def _response_json(response: Any, signal: str, decoded: DecodedTables) -> dict[str, Any]:
    if not decoded.rejected:
        return {}
    key = "rejectedSpans" if signal == "traces" else "rejectedLogRecords"
    return {
        "partialSuccess": {
            key: str(decoded.rejected),
            "errorMessage": response.partial_success.error_message,
        }
    }


def _rpc_code(http_status: int) -> int:
    """The google.rpc.Code closest to an HTTP status."""
    return {
        400: 3,  # INVALID_ARGUMENT
        401: 16,  # UNAUTHENTICATED
        403: 7,  # PERMISSION_DENIED
        404: 5,  # NOT_FOUND
        408: 4,  # DEADLINE_EXCEEDED
        411: 3,
        413: 8,  # RESOURCE_EXHAUSTED
        415: 3,
        429: 8,
        503: 14,  # UNAVAILABLE
    }.get(http_status, 2)
