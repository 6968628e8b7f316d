"""``configure()``: the one place that builds providers, processors and exporters.

Each setting is read once, in this order: the argument, then the environment variable, then
the default. Calling ``configure()`` twice is safe: the second call replaces what the first
installed instead of adding a second exporter.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

from semtrace import redaction
from semtrace.config import (
    DEFAULT_DB,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_SERVICE,
    ENV_CAPTURE_INPUTS,
    ENV_DB,
    ENV_ENDPOINT,
    ENV_IDLE_TIMEOUT,
    ENV_MODE,
    ENV_OTEL_RESOURCE_ATTRIBUTES,
    ENV_OTEL_SERVICE_NAME,
    ENV_TOKEN,
    Settings,
    capture_content_default,
    env_bool,
    resolve_mode,
)
from semtrace.exceptions import (
    ConfigurationError,
    DatabaseLockedError,
    NotADatabaseError,
    SemtraceWarning,
)
from semtrace.store.batching import BatchQueue
from semtrace.store.database import check_database_file, close_stores, open_store, resolve_path
from semtrace.store.model import LogRecord
from semtrace.store.ownership import OwnerUnavailable, ensure_owner, read_announcement
from semtrace.store.remote import RemoteWriter, Target
from semtrace.store.resilient import (
    ResilientWriter,
    close_writers,
    flush_writers,
    get_writer,
    set_writer,
)
from semtrace.store.stats import STATS
from semtrace.telemetry.setup import configure_logging, shutdown_logging
from semtrace.telemetry.sink import log_level as _log_level
from semtrace.tracer.exporter import DuckDBSpanExporter
from semtrace.tracer.processors import QueueSpanProcessor, SwappableProcessor

__all__ = [
    "DEFAULT_DB",
    "ENV_CAPTURE_INPUTS",
    "ENV_DB",
    "ENV_ENDPOINT",
    "ENV_MODE",
    "ID_GENERATOR",
    "STATE",
    "Settings",
    "configure",
    "emit_log",
    "force_flush",
    "shutdown",
]

_log = logging.getLogger("semtrace")


class _State:
    """All of semtrace's global state on one object (``reset()`` restores the defaults)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings: Settings | None = None
        self.provider: TracerProvider | None = None
        self.owns_provider = False  # False when attached to the application's own provider
        self.processor: SwappableProcessor | None = None
        self.span_exporter: SpanExporter | None = None
        self.log_queue: BatchQueue[LogRecord] | None = None
        # Hooks other modules install when configured (telemetry: logging capture etc.).
        self.on_configure: list[Callable[[Settings], None]] = []
        self.on_shutdown: list[Callable[[], None]] = []
        self.on_flush: list[Callable[[], None]] = []  # extra queues force_flush() drains
        # semtrace.integrations installs its instrument(*names) here (an upper layer).
        self.instrumenter: Callable[..., object] | None = None
        self.atexit_registered = False

    def reset(self) -> None:
        shutdown()
        self.settings = None


STATE = _State()


class _SwappableIdGenerator(IdGenerator):
    """The id generator of the provider semtrace creates; ``semtrace.testing`` swaps in a
    deterministic one (tracers cache their generator, so it is swapped inside, not replaced)."""

    def __init__(self) -> None:
        self.inner: IdGenerator = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self.inner.generate_span_id()

    def generate_trace_id(self) -> int:
        return self.inner.generate_trace_id()


ID_GENERATOR = _SwappableIdGenerator()


class _Provider(TracerProvider):
    """The SDK provider semtrace installs when the application has none.

    OTel lets a process set its global provider once, and tracers the program already holds
    stay bound to it, so a second ``configure()`` (another service name) must change the
    resource of the tracers handed out: they are remembered here and given the new resource
    through the tracer's public ``resource`` attribute."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource=resource, id_generator=ID_GENERATOR)
        self.current_resource = resource
        self._handed_out: weakref.WeakSet[Tracer] = weakref.WeakSet()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        tracer = super().get_tracer(*args, **kwargs)
        if isinstance(tracer, Tracer):
            tracer.resource = self.current_resource
            self._handed_out.add(tracer)
        return tracer

    def set_resource(self, resource: Resource) -> None:
        """Spans started from now on carry ``resource`` (tracers already handed out too)."""
        self.current_resource = resource
        for tracer in list(self._handed_out):
            tracer.resource = resource


# Factories a caller may pass instead: (settings) -> exporter / log flush function.
SpanExporterFactory = Callable[[Settings], SpanExporter]
LogFlushFactory = Callable[[Settings], Callable[[Sequence[LogRecord]], None]]


def _span_exporter(settings: Settings) -> SpanExporter:
    return DuckDBSpanExporter(settings.db)


def _log_flush(settings: Settings) -> Callable[[Sequence[LogRecord]], None]:
    def flush(records: Sequence[LogRecord]) -> None:
        get_writer(settings.db).write(logs=records)

    return flush


def _idle_timeout(value: float | None) -> float:
    if value is None:
        raw = os.environ.get(ENV_IDLE_TIMEOUT)
        try:
            value = float(raw) if raw else DEFAULT_IDLE_TIMEOUT_S
        except ValueError:
            raise ConfigurationError(
                f"{ENV_IDLE_TIMEOUT}={raw!r} is not a number of seconds"
            ) from None
    if value <= 0:
        raise ConfigurationError("owner_idle_timeout_s must be > 0 seconds")
    return value


def _check_db(path: str) -> None:
    """Fail early on a path that can never be a database; other I/O trouble is the
    exporter's to count (the agent must run even if its telemetry cannot be stored)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigurationError(
            f"db={path!r} is a directory; give a file path such as {path}/semtrace.duckdb"
        )
    check_database_file(path)


def _service_from_resource_env() -> str | None:
    """``service.name`` from ``OTEL_RESOURCE_ATTRIBUTES`` (``OTEL_SERVICE_NAME`` wins over it)."""
    for item in os.environ.get(ENV_OTEL_RESOURCE_ATTRIBUTES, "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            from urllib.parse import unquote

            return unquote(value.strip())
    return None


def _open_embedded(path: str) -> None:
    """Open the file now, so trouble shows at ``configure()``: a foreign file raises; a file
    another process writes gives a warning naming that process and how to share the file,
    and the agent runs on (its telemetry is spooled and written once the file is free).
    Other I/O trouble (an unwritable folder, a full disk) is the writer's to spool and count."""
    try:
        open_store(path)
    except NotADatabaseError:
        raise
    except DatabaseLockedError as exc:
        warnings.warn(
            f"{exc} Meanwhile spans and logs are spooled and written when the file is free.",
            SemtraceWarning,
            stacklevel=3,
        )
    except Exception as exc:
        _log.warning(
            "semtrace: cannot open %s yet (%s); spans will be counted as failed", path, exc
        )


def configure(
    *,
    service_name: str | None = None,
    db: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    capture_logging: bool = True,
    capture_inputs: bool | None = None,
    max_input_chars: int = 500,
    capture_content: bool | None = None,
    max_content_chars: int = 4_096,
    batch_interval_s: float = 1.0,
    resource_attributes: Mapping[str, Any] | None = None,
    mode: str | None = None,
    owner_idle_timeout_s: float | None = None,
    span_exporter_factory: SpanExporterFactory | None = None,
    log_flush_factory: LogFlushFactory | None = None,
    instrument: Sequence[str] | None = None,
    log_level: str | int | None = None,
) -> Settings:
    """Set up tracing and semantic logging for this process.

    ``db`` is the DuckDB file (env ``SEMTRACE_DB``, default ``semtrace.duckdb``); the folder is
    created when missing. ``service_name`` falls back to ``OTEL_SERVICE_NAME``; resource
    attributes from ``OTEL_RESOURCE_ATTRIBUTES`` are honoured. If the application already
    installed an SDK ``TracerProvider``, semtrace adds its processor to it instead of replacing it.
    ``instrument=["openai", "langchain"]`` turns on those integrations (``semtrace.instrument``).
    ``capture_content`` (env ``SEMTRACE_CAPTURE_CONTENT``, or the GenAI conventions'
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; default on): decorated spans record
    their inputs and outputs (redacted, cut at ``max_content_chars``).
    ``log_level`` (env ``SEMTRACE_LOG_LEVEL``, default ``"info"``): semantic and captured
    ``logging`` records below it are dropped before any work is done on them.

    ``mode`` (env ``SEMTRACE_MODE``): ``"owner"`` (the default) routes this process's
    telemetry through the one process that owns the file, so any number of agents, ``semtrace
    sql`` and the dashboard share it while it is written; ``"embedded"`` writes the file from
    this process (no child process; other processes see the file once this one has closed it).
    Either way a file a live owner already announced is written through that owner. An owner
    started on demand exits after ``owner_idle_timeout_s`` (env
    ``SEMTRACE_OWNER_IDLE_TIMEOUT``, default 300) with no writer, no reader, nothing pending.
    """
    if max_input_chars < 0:
        raise ConfigurationError("max_input_chars must be >= 0 (0 turns input capture off)")
    if batch_interval_s <= 0:
        raise ConfigurationError("batch_interval_s must be > 0 seconds")
    try:
        resolved_mode = resolve_mode(mode)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    db_path = resolve_path(db if db is not None else os.environ.get(ENV_DB, DEFAULT_DB))
    endpoint = endpoint or os.environ.get(ENV_ENDPOINT) or None
    if endpoint is None:
        _check_db(db_path)
    # Redaction markers are keyed by the file's secret, which every writer of the file shares.
    redaction.use_database(db_path if endpoint is None else None)
    settings = Settings(
        service_name=service_name
        or os.environ.get(ENV_OTEL_SERVICE_NAME)
        or _service_from_resource_env()
        or DEFAULT_SERVICE,
        db=db_path,
        endpoint=endpoint,
        capture_logging=capture_logging,
        capture_inputs=env_bool(ENV_CAPTURE_INPUTS, True)
        if capture_inputs is None
        else capture_inputs,
        max_input_chars=max_input_chars,
        capture_content=capture_content_default() if capture_content is None else capture_content,
        max_content_chars=max_content_chars,
        batch_interval_s=batch_interval_s,
        resource_attributes=dict(resource_attributes or {}),
        log_level=_log_level(log_level),
        mode=resolved_mode,
        owner_idle_timeout_s=_idle_timeout(owner_idle_timeout_s),
    )
    with STATE.lock:
        _shutdown_pipeline()
        settings = _route(settings)
        if isinstance(get_writer(settings.db), ResilientWriter) and span_exporter_factory is None:
            _open_embedded(settings.db)
        span_factory = span_exporter_factory or _span_factory_for(settings)
        log_factory = log_flush_factory or _log_factory_for(settings)
        provider = _provider(settings)
        exporter = span_factory(settings)
        bsp = QueueSpanProcessor(exporter, interval_s=settings.batch_interval_s)
        assert STATE.processor is not None
        STATE.processor.swap(bsp)
        STATE.span_exporter = exporter
        STATE.log_queue = BatchQueue(
            log_factory(settings),
            name="semtrace-logs",
            interval_s=settings.batch_interval_s,
            on_drop=lambda n: STATS.add(logs_dropped=n),
        )
        STATE.settings = settings
        STATE.provider = provider
        configure_logging(
            emit_log,
            service_name=settings.service_name,
            level=settings.log_level,
            capture_logging=settings.capture_logging,
        )
        if not STATE.atexit_registered:
            atexit.register(shutdown)
            STATE.atexit_registered = True
        for hook in list(STATE.on_configure):
            hook(settings)
    if instrument:  # ecosystem instrumentors (OpenInference / OpenLLMetry), by name
        if STATE.instrumenter is None:
            raise ConfigurationError(
                "instrument= needs semtrace's integrations: `import semtrace` (not only "
                "semtrace.tracer) before configure()"
            )
        STATE.instrumenter(*instrument)
    return settings


def _route(settings: Settings) -> Settings:
    """Choose how this process writes ``settings.db`` (the one-writer rule).

    ``endpoint=``: batches go to the collector at that URL. A live owner announced beside
    the file: through it, whatever the mode. Owner mode: through the file's owner, started
    on demand (a detached ``semtrace serve``). Embedded mode: this process writes the file.
    Every writer of the process for that file (spans, logs, heal attempts) follows."""
    writer: RemoteWriter | None = None
    if settings.endpoint is not None:
        url = settings.endpoint.rstrip("/")
        for suffix in ("/v1/traces", "/v1/logs", "/v1/batches"):
            url = url.removesuffix(suffix)
        target = Target(url, os.environ.get(ENV_TOKEN) or None)
        writer = RemoteWriter(settings.db, lambda: target)
    elif settings.mode == "owner":
        writer = RemoteWriter(settings.db, _owner_resolver(settings))
    elif read_announcement(settings.db) is not None:
        writer = RemoteWriter(settings.db, _announced_resolver(settings.db))
    set_writer(settings.db, writer)
    if writer is not None and settings.endpoint is None:
        # Find (or start) the owner now, off the caller's thread: it is ready by the first
        # batch, and configure() does not wait for a process to start.
        threading.Thread(target=writer.connect, name="semtrace-owner-start", daemon=True).start()
    return settings


def _owner_resolver(settings: Settings) -> Callable[[], Target]:
    def resolve() -> Target:
        ann = ensure_owner(settings.db, idle_timeout_s=settings.owner_idle_timeout_s)
        return Target(ann.url, ann.token)

    return resolve


def _announced_resolver(db: str) -> Callable[[], Target]:
    def resolve() -> Target:
        ann = read_announcement(db)
        if ann is None:
            raise OwnerUnavailable(f"no owner announced for {db} (embedded mode starts none)")
        return Target(ann.url, ann.token)

    return resolve


def _span_factory_for(settings: Settings) -> SpanExporterFactory:
    return _span_exporter


def _log_factory_for(settings: Settings) -> LogFlushFactory:
    return _log_flush


def _resource(settings: Settings) -> Resource:
    attrs: dict[str, Any] = {"service.name": settings.service_name}
    attrs.update(settings.resource_attributes)
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES; explicit arguments win.
    return Resource.create(attrs)


def _provider(settings: Settings) -> TracerProvider:
    """The SDK provider to attach to: the application's own if it has one, else ours."""
    if STATE.provider is not None and STATE.processor is not None:
        if STATE.owns_provider:
            # OTel lets a process set its provider once: a new configure() updates its resource.
            assert isinstance(STATE.provider, _Provider)
            STATE.provider.set_resource(_resource(settings))
        return STATE.provider
    current = trace.get_tracer_provider()
    processor = SwappableProcessor()
    STATE.owns_provider = False
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = _Provider(_resource(settings))
        trace.set_tracer_provider(provider)
        STATE.owns_provider = trace.get_tracer_provider() is provider
        if trace.get_tracer_provider() is not provider:  # another provider won the race
            got = trace.get_tracer_provider()
            if not isinstance(got, TracerProvider):
                raise ConfigurationError(
                    "a non-SDK TracerProvider is installed; semtrace needs the OpenTelemetry SDK's "
                    "TracerProvider (opentelemetry-sdk) to attach its exporter"
                )
            provider = got
    provider.add_span_processor(processor)
    STATE.processor = processor
    return provider


def emit_log(record: LogRecord) -> bool:
    """Queue a log record for storage; ``False`` when semtrace is not configured or full."""
    queue = STATE.log_queue
    if queue is None:
        return False
    return queue.put(record)


def force_flush(timeout_s: float = 30.0) -> None:
    """Write every span and log queued so far (before a query in the same process, say)."""
    processor = STATE.processor
    if processor is not None:
        processor.force_flush(int(timeout_s * 1000))
    queue = STATE.log_queue
    if queue is not None:
        queue.flush(timeout_s)
    flush_writers(timeout_s)  # batches a writer still delivers to the file's owner
    for hook in list(STATE.on_flush):
        try:
            hook()
        except Exception:  # pragma: no cover - a hook must not stop the flush
            _log.warning("semtrace flush hook failed", exc_info=True)


def _shutdown_pipeline() -> None:
    processor = STATE.processor
    if processor is not None:
        old = processor.swap(None)
        if old is not None:
            old.shutdown()
    queue, STATE.log_queue = STATE.log_queue, None
    if queue is not None:
        queue.shutdown()


def shutdown() -> None:
    """Flush and stop: every span and log still queued is written. Runs at exit too."""
    with STATE.lock:
        for hook in list(STATE.on_shutdown):
            try:
                hook()
            except Exception:  # pragma: no cover - a hook must not stop the flush
                _log.warning("semtrace shutdown hook failed", exc_info=True)
        shutdown_logging()
        _shutdown_pipeline()
        close_writers()
        close_stores()
