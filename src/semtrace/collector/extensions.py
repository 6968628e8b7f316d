"""How other modules extend the collector without editing it: routes and commit hooks.

**Routes.** A module registers a handler for ``POST`` or ``GET`` on a path::

    from semtrace.collector.extensions import Request, Response, add_route

    def answer(request: Request) -> Response:
        doc = request.json()          # the body, size-limited, inflated, chunked or not
        ...
        return Response.json({"ok": True})

    add_route("POST", "/v1/tasks/answer", answer)

Routes registered at import time serve every collector started afterwards; a running
collector takes more with ``collector.routes.add(...)``. The token check runs before any
route (401 without it); a handler raises :class:`HttpError` for a refusal (sent as a
``google.rpc.Status`` in the request's content type, JSON by default). Handlers run on the
request's thread: keep them short, or hand the work to a thread of your own.

**Commit hooks.** A callback receives the ``(table_name, arrow_table)`` pairs of each
successful commit (spans, span_events, span_links, logs, and the tables ``/v1/records``
takes), after the commit and in commit order::

    from semtrace.collector.extensions import add_commit_hook

    def sink(tables: Sequence[tuple[str, pa.Table]]) -> None: ...

    add_commit_hook(sink)

Hooks run on one dispatch thread, never on the writer's: ingest never waits for them. The
dispatch queue is bounded (``max_batches`` commits); a commit that does not fit is not handed
to the hooks, and is counted (``hooks_dropped`` in ``/health``), as is every exception a hook
raises (``hook_errors``): a hook never stops ingest nor another hook.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    from semtrace.collector.server import Collector

__all__ = [
    "JSON",
    "CommitHook",
    "CommitHooks",
    "HttpError",
    "Request",
    "Response",
    "RouteHandler",
    "Routes",
    "add_commit_hook",
    "add_route",
    "registered_commit_hooks",
    "registered_routes",
    "remove_commit_hook",
    "remove_route",
]

JSON = "application/json"
_log = logging.getLogger("semtrace.collector")


class HttpError(Exception):
    """A refusal: sent with ``status`` and ``message`` (and ``Retry-After`` when given)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class Request:
    """One HTTP request as a route handler sees it."""

    method: str
    path: str  # without the query string
    query: Mapping[str, list[str]]
    headers: Message  # case-insensitive: request.headers.get("Content-Type")
    collector: Collector
    read_body: Callable[[], bytes]  # at most once; size-limited, inflated, chunked or not
    content_type: str = ""
    # State kept for the connection's lifetime (a keep-alive connection serves many requests).
    connection: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        """The request body (within the collector's size limit; 413 past it)."""
        return self.read_body()

    def json(self) -> Any:
        """The body parsed as JSON (400 when it is not)."""
        body = self.body()
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"the body is not JSON: {exc}") from None

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """What a route handler answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, orjson.dumps(doc, default=str), JSON, dict(headers or {}))


RouteHandler = Callable[[Request], Response]


class Routes:
    """Handlers by ``(method, path)``; thread-safe."""

    def __init__(self, routes: Mapping[tuple[str, str], RouteHandler] | None = None) -> None:
        self._routes: dict[tuple[str, str], RouteHandler] = dict(routes or {})
        self._lock = threading.Lock()

    @staticmethod
    def _key(method: str, path: str) -> tuple[str, str]:
        method = method.upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"routes are GET or POST, not {method!r}")
        if not path.startswith("/"):
            raise ValueError(f"a route's path starts with '/': {path!r}")
        return method, path.rstrip("/") or "/"

    def add(self, method: str, path: str, handler: RouteHandler) -> None:
        """Serve ``method path`` with ``handler`` (replacing any handler it had)."""
        key = self._key(method, path)
        with self._lock:
            self._routes[key] = handler

    def remove(self, method: str, path: str) -> None:
        key = self._key(method, path)
        with self._lock:
            self._routes.pop(key, None)

    def get(self, method: str, path: str) -> RouteHandler | None:
        with self._lock:
            return self._routes.get((method.upper(), path.rstrip("/") or "/"))

    def copy(self) -> Routes:
        with self._lock:
            return Routes(self._routes)


CommitHook = Callable[[Sequence[tuple[str, pa.Table]]], None]


class CommitHooks:
    """Callbacks run after each successful commit, off the writer thread (see module doc)."""

    def __init__(self, hooks: Sequence[CommitHook] = (), *, max_batches: int = 64) -> None:
        self._hooks: list[CommitHook] = list(hooks)
        self._max = max_batches
        self._queue: deque[list[tuple[str, pa.Table]]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = False
        self.dropped = 0  # commits not handed to the hooks (queue full)
        self.errors = 0  # exceptions raised by hooks

    def add(self, hook: CommitHook) -> None:
        with self._cond:
            if hook not in self._hooks:
                self._hooks.append(hook)

    def remove(self, hook: CommitHook) -> None:
        with self._cond:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def __iter__(self) -> Iterator[CommitHook]:
        with self._cond:
            return iter(list(self._hooks))

    def committed(self, tables: Sequence[tuple[str, pa.Table]]) -> None:
        """Called by the writer after a commit: queue the tables for the hooks, never wait."""
        batch = [(name, table) for name, table in tables if table.num_rows]
        with self._cond:
            if not self._hooks or not batch or self._closed:
                return
            if len(self._queue) >= self._max:
                self.dropped += 1
                return
            self._queue.append(batch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="semtrace-commit-hooks", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue.popleft()
                hooks = list(self._hooks)
                self._busy = True
            for hook in hooks:
                try:
                    hook(batch)
                except Exception:
                    with self._cond:
                        self.errors += 1
                        first = self.errors == 1
                    if first:
                        _log.warning("semtrace commit hook %r failed", hook, exc_info=True)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued commit went through the hooks; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def close(self, timeout_s: float = 10.0) -> None:
        """Hand what is queued to the hooks (within ``timeout_s``), then stop the thread."""
        self.drain(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)


_ROUTES = Routes()
_HOOKS: list[CommitHook] = []
_hooks_lock = threading.Lock()


def add_route(method: str, path: str, handler: RouteHandler) -> None:
    """Serve ``method path`` with ``handler`` in every collector started from now on."""
    _ROUTES.add(method, path, handler)


def remove_route(method: str, path: str) -> None:
    _ROUTES.remove(method, path)


def add_commit_hook(hook: CommitHook) -> None:
    """Call ``hook`` after each commit of every collector started from now on."""
    with _hooks_lock:
        if hook not in _HOOKS:
            _HOOKS.append(hook)


def remove_commit_hook(hook: CommitHook) -> None:
    with _hooks_lock:
        if hook in _HOOKS:
            _HOOKS.remove(hook)


def registered_routes() -> Routes:
    """A copy of the routes registered so far (a new collector starts from it)."""
    return _ROUTES.copy()


def registered_commit_hooks() -> list[CommitHook]:
    with _hooks_lock:
        return list(_HOOKS)
