"""``semtrace serve``: an OTLP/HTTP receiver that owns one DuckDB file and answers SQL.

Endpoints (all behind an optional bearer token):

- ``POST /v1/traces``, ``POST /v1/logs``: OTLP/HTTP, ``application/x-protobuf`` or
  ``application/json``, optionally gzip/deflate; 200 only after the records are committed.
- ``POST /v1/metrics``: 404 with a clear reason (semtrace stores traces and logs).
- ``POST /v1/query``: ``{"sql": ..., "params": [...], "format": "json"|"arrow", "limit": n}``,
  read-only (see :mod:`semtrace.collector.sql`).
- ``GET /health``: status and counters as JSON.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pyarrow as pa
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from semtrace.collector import otlp_decode
from semtrace.collector.announce import Announcement, remove_announcement, write_announcement
from semtrace.collector.ingest import IngestClosed, IngestQueue, QueueFull, Ticket
from semtrace.collector.sql import QueryRefused, QueryTimeout, SqlSandbox, lock_down
from semtrace.store.database import Store, resolve_path

__all__ = ["ENV_TOKEN", "Collector", "CollectorConfig"]

ENV_TOKEN = "SEMTRACE_TOKEN"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_log = logging.getLogger("semtrace.collector")


@dataclass(frozen=True)
class CollectorConfig:
    """How a collector listens and how much it takes before pushing back."""

    db: str
    host: str = "127.0.0.1"
    port: int = 4318  # 0 picks a free port (tests)
    token: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024  # after decompression, as the OTLP spec says
    max_pending: int = 16_384  # records waiting for a commit before 429
    max_inflight: int = 8  # requests being read/decoded/queued at once before 429
    # Decoding is pure Python: more decoders than this only fight the writer for the GIL.
    max_decoders: int = 1
    ack_timeout_s: float = 30.0  # a request waits this long for its commit, then 503
    retry_after_s: int = 1
    query_max_rows: int = 100_000
    query_timeout_s: float = 30.0


class _HttpError(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
    request_queue_size = 128  # the default 5 resets bursts of exporters connecting at once
    block_on_close = True
    collector: Collector


class Collector:
    """The collector process's core: HTTP server, group-commit queue, SQL sandbox, announcement."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self.db = resolve_path(config.db)
        self.store = Store(self.db)
        lock_down(self.store.cursor())
        self.ingest = IngestQueue(self.store, max_pending=config.max_pending)
        self.sandbox = SqlSandbox(
            self.store.cursor, max_rows=config.query_max_rows, timeout_s=config.query_timeout_s
        )
        try:
            self._server = _Server((config.host, config.port), _Handler)
        except OSError:
            self.ingest.close()
            self.store.close()  # the port is taken: leave the file free for its next owner
            raise
        self._server.collector = self
        self._inflight = threading.BoundedSemaphore(config.max_inflight)
        self._decoding = threading.BoundedSemaphore(config.max_decoders)
        self._connections: dict[int, _Handler] = {}
        self._conn_lock = threading.Lock()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.started_at = time.time()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def closing(self) -> bool:
        return self._closing

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Serve in a background thread and announce ownership of the file."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how fast stop() ends the accept loop
            name="semtrace-http",
            daemon=True,
        )
        self._thread.start()
        write_announcement(
            Announcement(
                url=self.url,
                pid=os.getpid(),
                db=self.db,
                token_required=self.config.token is not None,
                started_at=self.started_at,
            )
        )

    def serve_forever(self) -> None:
        """Start and block until :meth:`stop` (a signal handler calls it) has finished."""
        self.start()
        # Wait in short slices: a signal delivered to another thread only runs its Python
        # handler once the main thread executes bytecode again.
        while not self._stopped.wait(0.2):
            pass

    def stop(self) -> None:
        """Stop accepting, answer what was accepted (committing it), close the file."""
        if self._closing:
            self._stopped.wait()
            return
        self._closing = True
        try:
            self._server.shutdown()  # the accept loop ends; open connections continue
            self._close_idle_connections()
            self._server.server_close()  # joins request threads (each waits for its commit)
            self.ingest.close()
            remove_announcement(self.db, pid=os.getpid())
            self.store.close()
        finally:
            self._stopped.set()

    def _close_idle_connections(self) -> None:
        with self._conn_lock:
            handlers = list(self._connections.values())
        for h in handlers:
            if not h.busy:
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)

    def register(self, handler: _Handler, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections[id(handler)] = handler
            else:
                self._connections.pop(id(handler), None)

    # -- request work (called from handler threads) -----------------------------------------
    def health(self) -> dict[str, Any]:
        st = self.ingest.stats
        return {
            "status": "closing" if self._closing else "ok",
            "db": self.db,
            "pid": os.getpid(),
            "url": self.url,
            "pending": self.ingest.pending,
            "spans_committed": st.spans_committed,
            "logs_committed": st.logs_committed,
            "commits": st.commits,
            "refused_full": st.refused_full,
            "failed": st.failed,
            "pending_peak": st.pending_peak,
            "decode_seconds": round(st.decode_seconds, 6),
            "commit_seconds": round(st.commit_seconds, 6),
        }

    def submit(self, spans: list[Any], logs: list[Any]) -> Ticket | None:
        """Queue records for the next group commit (raises _HttpError on push-back)."""
        if not spans and not logs:
            return None
        if self._closing:
            raise _HttpError(503, "the collector is shutting down", retry_after=5)
        try:
            ticket = self.ingest.submit(spans, logs)
        except QueueFull as exc:
            raise _HttpError(
                429,
                f"too many records wait for a commit ({exc})",
                retry_after=self.config.retry_after_s,
            ) from None
        except IngestClosed:
            raise _HttpError(503, "the collector is shutting down", retry_after=5) from None
        return ticket

    def wait_for_commit(self, ticket: Ticket | None) -> None:
        """Block until the commit holding ``ticket`` finished (_HttpError 503 if it failed)."""
        if ticket is None:
            return
        try:
            committed = ticket.wait(self.config.ack_timeout_s)
        except Exception as exc:
            raise _HttpError(
                503,
                f"the records could not be committed: {exc}",
                retry_after=self.config.retry_after_s,
            ) from None
        if not committed:
            raise _HttpError(
                503, "the commit did not finish in time", retry_after=self.config.retry_after_s
            )


# -- HTTP -------------------------------------------------------------------------------------

_Decoder = Callable[[bytes], Any]
_TRACE_DECODERS: dict[str, _Decoder] = {
    PROTOBUF: otlp_decode.decode_spans_protobuf,
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
        raise _HttpError(415, f"Content-Encoding {encoding!r} is not supported (gzip, deflate)")
    d = zlib.decompressobj(wbits[encoding])
    try:
        out = d.decompress(body, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise _HttpError(413, f"the decompressed body is over the {limit}-byte limit")
        out += d.flush()
    except zlib.error as exc:
        raise _HttpError(400, f"the body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise _HttpError(413, f"the decompressed body is over the {limit}-byte limit")
    if not d.eof:
        raise _HttpError(400, f"the {encoding} body is truncated")
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
    server_version = "semtrace"
    server: _Server
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

    def _send_status(self, err: _HttpError, content_type: str) -> None:
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
            raise _HttpError(401, "a bearer token is required: Authorization: Bearer <token>")

    def _read_body(self) -> bytes:
        limit = self.app.config.max_body_bytes
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise _HttpError(411, "send a Content-Length (chunked bodies are not accepted)")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            raise _HttpError(400, "Content-Length is not a number") from None
        if length > limit:
            self.close_connection = True  # the unread body must not be taken as a request
            raise _HttpError(413, f"the body is over the {limit}-byte limit")
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
            raise _HttpError(404, f"no such endpoint: GET {self.path}")
        except _HttpError as err:
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
            elif path == "/v1/metrics":
                self._drain()
                raise _HttpError(
                    404,
                    "semtrace stores traces and logs, not metrics; send metrics to another backend",
                )
            else:
                self._drain()
                raise _HttpError(404, f"no such endpoint: POST {self.path}")
        except _HttpError as err:
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
        decoder = decoders.get(ctype)
        if decoder is None:
            self._drain()
            raise _HttpError(
                415,
                f"Content-Type {ctype or '(none)'!r} is not supported; "
                "send application/x-protobuf or application/json",
            )
        if not self.app._inflight.acquire(blocking=False):
            self._drain()
            raise _HttpError(
                429, "too many requests in flight", retry_after=self.app.config.retry_after_s
            )
        # The semaphore covers reading, decoding and queueing: records held by request
        # threads but not yet counted by the queue stay bounded by max_inflight requests.
        ticket = None
        try:
            body = self._read_body()
            with self.app._decoding:
                started = time.perf_counter()
                try:
                    decoded = decoder(body)
                except otlp_decode.DecodeError as exc:
                    raise _HttpError(400, str(exc)) from None
                finally:
                    self.app.ingest.stats.add_decode(time.perf_counter() - started)
            del body
            if path == "/v1/traces":
                ticket = self.app.submit(decoded.spans, [])
            else:
                ticket = self.app.submit([], decoded.logs)
        finally:
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
            raise _HttpError(400, f"the query body is not JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("sql"), str):
            raise _HttpError(400, 'send {"sql": "select ...", "format": "json" or "arrow"}')
        params = doc.get("params")
        if params is not None and not isinstance(params, list):
            raise _HttpError(400, "params must be a JSON array")
        limit = doc.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise _HttpError(400, "limit must be a non-negative integer")
        fmt = doc.get("format", "json")
        try:
            result = self.app.sandbox.run(doc["sql"], params, limit=limit)
        except QueryRefused as exc:
            raise _HttpError(400, str(exc)) from None
        except QueryTimeout as exc:
            raise _HttpError(408, str(exc)) from None
        except Exception as exc:  # a DuckDB error is the user's SQL: say what DuckDB said
            raise _HttpError(400, f"{type(exc).__name__}: {exc}") from None
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
