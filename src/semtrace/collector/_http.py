"""The HTTP side of the collector: one handler class for OTLP, SQL and health requests.

Request threads read and inflate the body, decode it, queue the records on the collector's
group commit and answer once it committed; errors are ``google.rpc.Status`` bodies in the
request's content type.
"""

from __future__ import annotations

import hmac
import logging
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from semtrace.collector import otlp_decode
from semtrace.collector._workers import PoolBroken, decode_to_tables
from semtrace.collector.sql import QueryRefused, QueryTimeout

if TYPE_CHECKING:
    from semtrace.collector.server import Collector

__all__ = ["ARROW_STREAM", "JSON", "PROTOBUF", "Handler", "HttpError", "Server"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_log = logging.getLogger("semtrace.collector")


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
    request_queue_size = 128  # the default 5 resets bursts of exporters connecting at once
    block_on_close = True
    collector: Collector


_Decoder = Callable[[bytes], Any]
_TRACE_DECODERS: dict[str, _Decoder] = {
    PROTOBUF: otlp_decode.decode_spans_protobuf_rows,  # row tuples: no records built
    JSON: otlp_decode.decode_spans_json,
}
_LOG_DECODERS: dict[str, _Decoder] = {
    PROTOBUF: otlp_decode.decode_logs_protobuf,
    JSON: otlp_decode.decode_logs_json,
}


def _media_type(header: str | None) -> str:
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

    def _send_json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, orjson.dumps(doc, default=str), JSON, headers)

    def _send_status(self, err: HttpError, content_type: str) -> None:
        """An OTLP error: ``google.rpc.Status`` in the request's content type."""
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
        if content_type == PROTOBUF:
            status = status_pb2.Status(code=_rpc_code(err.status), message=err.message)
            self._send(err.status, status.SerializeToString(), PROTOBUF, headers)
        else:
            doc = {"code": _rpc_code(err.status), "message": err.message}
            self._send_json(err.status, doc, headers)

    def _check_token(self) -> None:
        token = self.app.config.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), token):
            raise HttpError(401, "a bearer token is required: Authorization: Bearer <token>")

    def _read_body(self) -> bytes:
        limit = self.app.config.max_body_bytes
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise HttpError(411, "send a Content-Length (chunked bodies are not accepted)")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            raise HttpError(400, "Content-Length is not a number") from None
        if length > limit:
            self.close_connection = True  # the unread body must not be taken as a request
            raise HttpError(413, f"the body is over the {limit}-byte limit")
        body = self.rfile.read(length) if length > 0 else b""
        self._body_consumed = True
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding and encoding != "identity":
            body = _decompress(body, encoding, limit)
        return body

    # -- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        try:
            self._check_token()
            if self.path.split("?", 1)[0] == "/health":
                self._send_json(200, self.app.health())
                return
            raise HttpError(404, f"no such endpoint: GET {self.path}")
        except HttpError as err:
            self._send_status(err, JSON)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        ctype = _media_type(self.headers.get("Content-Type"))
        reply_type = PROTOBUF if ctype == PROTOBUF else JSON
        self._body_consumed = False
        try:
            self._check_token()
            if path == "/v1/query":
                self._query()
            elif path in ("/v1/traces", "/v1/logs"):
                self._otlp(path, ctype)
            elif path == "/v1/records":  # diagnoses, heal attempts: semtrace.collector.records
                from semtrace.collector.records import handle_records

                handle_records(self)
            elif path == "/v1/metrics":
                self._drain()
                raise HttpError(
                    404,
                    "semtrace stores traces and logs, not metrics; send metrics to another backend",
                )
            else:
                self._drain()
                raise HttpError(404, f"no such endpoint: POST {self.path}")
        except HttpError as err:
            if not self._body_consumed:
                self.close_connection = True  # unread body bytes must not pass for a request
            self._send_status(err, reply_type)

    def _drain(self) -> None:
        """Read (and drop) a body we will not use, so the connection stays usable."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if length == 0:
            self._body_consumed = True
        elif length <= self.app.config.max_body_bytes:
            self.rfile.read(length)
            self._body_consumed = True
        elif length:
            self.close_connection = True

    def _otlp(self, path: str, ctype: str) -> None:
        decoders = _TRACE_DECODERS if path == "/v1/traces" else _LOG_DECODERS
        if ctype not in decoders:
            self._drain()
            raise HttpError(
                415,
                f"Content-Type {ctype or '(none)'!r} is not supported; "
                "send application/x-protobuf or application/json",
            )
        if not self.app._inflight.acquire(blocking=False):
            self._drain()
            raise HttpError(
                429, "too many requests in flight", retry_after=self.app.config.retry_after_s
            )
        if self.app.ingest.full:  # refuse before decoding what could not be queued
            self.app._inflight.release()
            self._drain()
            self.app.ingest.stats.refused_full += 1
            raise HttpError(
                429,
                f"too many records wait for a commit ({self.app.ingest.pending})",
                retry_after=self.app.config.retry_after_s,
            )
        # The semaphore covers reading, decoding and queueing: records held by request
        # threads but not yet counted by the queue stay bounded by max_inflight requests.
        ticket = None
        decoded: Any
        # Counted from reading to queueing: the writer may wait for these records to join
        # its commit (IngestQueue.linger_s).
        decoding = self.app.ingest.decoding()
        decoding.__enter__()
        try:
            body = self._read_body()
            pool = self.app.pool
            signal = path.rsplit("/", 1)[1]
            started = time.perf_counter()
            try:
                if pool is not None:
                    decoded = pool.decode(signal, ctype, body)
                else:
                    # Decode and build the Arrow tables here, not in the writer: the writer
                    # then only appends (DuckDB, without the GIL) while the next request is
                    # being decoded, instead of the two waiting for each other.
                    with self.app._decoding:
                        decoded = decode_to_tables(signal, ctype, body)
            except otlp_decode.DecodeError as exc:
                raise HttpError(400, str(exc)) from None
            except PoolBroken as exc:
                raise HttpError(503, str(exc), retry_after=self.app.config.retry_after_s) from None
            except Exception as exc:  # building the rows failed: the sender may retry
                _log.error("semtrace collector: building rows failed", exc_info=True)
                raise HttpError(
                    503,
                    f"the records could not be stored: {exc}",
                    retry_after=self.app.config.retry_after_s,
                ) from None
            finally:
                self.app.ingest.stats.add_decode(time.perf_counter() - started)
            del body
            is_traces = path == "/v1/traces"
            ticket = self.app.submit_tables(
                decoded.tables,
                spans=decoded.records if is_traces else 0,
                logs=0 if is_traces else decoded.records,
            )
        finally:
            decoding.__exit__()
            self.app._inflight.release()
        self.app.wait_for_commit(ticket)
        if path == "/v1/traces":
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
            self._send(200, response.SerializeToString(), PROTOBUF)
        else:
            self._send_json(200, _response_json(response, path, decoded))

    def _query(self) -> None:
        body = self._read_body()
        try:
            doc = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"the query body is not JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("sql"), str):
            raise HttpError(400, 'send {"sql": "select ...", "format": "json" or "arrow"}')
        params = doc.get("params")
        if params is not None and not isinstance(params, list):
            raise HttpError(400, "params must be a JSON array")
        limit = doc.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise HttpError(400, "limit must be a non-negative integer")
        fmt = doc.get("format", "json")
        try:
            result = self.app.sandbox.run(doc["sql"], params, limit=limit)
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
        if fmt == "arrow":
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, result.table.schema) as writer:
                writer.write_table(result.table)
            self._send(200, sink.getvalue().to_pybytes(), ARROW_STREAM, headers)
        else:
            table = result.table
            self._send_json(
                200,
                {
                    "columns": table.column_names,
                    "types": [str(t) for t in table.schema.types],
                    "rows": [list(r.values()) for r in table.to_pylist()],
                    "truncated": result.truncated,
                },
                headers,
            )


def _response_json(response: Any, path: str, decoded: Any) -> dict[str, Any]:
    if not decoded.rejected:
        return {}
    key = "rejectedSpans" if path == "/v1/traces" else "rejectedLogRecords"
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
        404: 5,  # NOT_FOUND
        408: 4,  # DEADLINE_EXCEEDED
        411: 3,
        413: 8,  # RESOURCE_EXHAUSTED
        415: 3,
        429: 8,
        503: 14,  # UNAVAILABLE
    }.get(http_status, 2)
