"""What an exception says beyond its message: status codes, errno, gRPC and SQL codes, the
provider's error code, ``Retry-After``, the host it talked to.

Libraries put these facts on their exception objects (``requests``' ``response``, OpenAI's
``status_code`` and ``code``, botocore's ``response["Error"]``, gRPC's ``code()``,
psycopg's ``pgcode``, ``OSError.errno``), never all in the text. :func:`error_facts`
collects them, following the ``raise ... from`` chain, as span attributes in the
conventions' names, so the failure keeps them after the process is gone and a diagnosis can
classify on facts before words. Reading an odd exception never raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from semtrace import semconv as sc
from semtrace._retry_after import retry_after_seconds

__all__ = ["MAX_CHAIN", "as_int", "error_facts", "retry_after_seconds"]

MAX_CHAIN = 4  # exceptions followed along __cause__ / __context__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < MAX_CHAIN:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def as_int(value: Any) -> int | None:
    """An integer code (``429``, ``"111"``) as an int; None for anything else (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _header(headers: Any, name: str) -> Any:
    if headers is None:
        return None
    with contextlib.suppress(Exception):  # an odd headers object is no reason to fail
        return headers.get(name) or headers.get(name.lower())
    return None


def _response_of(exc: BaseException) -> Any:
    return getattr(exc, "response", None)


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "http_status", "status"):
        code = as_int(getattr(exc, attr, None))
        if code is not None and 100 <= code <= 599:
            return code
    response = _response_of(exc)
    if isinstance(response, Mapping):  # botocore
        meta = response.get("ResponseMetadata") or {}
        code = as_int(meta.get("HTTPStatusCode")) if isinstance(meta, Mapping) else None
    else:
        code = as_int(getattr(response, "status_code", None) or getattr(response, "status", None))
    if code is None and type(exc).__name__ == "HTTPError":  # urllib.error.HTTPError.code
        code = as_int(getattr(exc, "code", None))
    return code if code is not None and 100 <= code <= 599 else None


def _headers(exc: BaseException) -> Any:
    response = _response_of(exc)
    headers = getattr(response, "headers", None) if response is not None else None
    if headers is None and isinstance(response, Mapping):
        meta = response.get("ResponseMetadata") or {}
        headers = meta.get("HTTPHeaders") if isinstance(meta, Mapping) else None
    return headers if headers is not None else getattr(exc, "headers", None)


def _provider_code(exc: BaseException) -> str | None:
    """The service's own error code: botocore's Error.Code, OpenAI's ``code``, Anthropic's
    error ``type``, Stripe's ``code``."""
    response = _response_of(exc)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        code = error.get("Code") if isinstance(error, Mapping) else None
        if isinstance(code, str) and code:
            return code
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
        for key in ("code", "type"):
            value = inner.get(key) if isinstance(inner, Mapping) else None
            if isinstance(value, str) and value and value != "error":
                return value
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code and not code.isdigit():
        return code
    return None


def _grpc_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if callable(code) and type(exc).__module__.startswith("grpc"):
        with contextlib.suppress(Exception):
            value = code()
            return str(getattr(value, "name", value))
    return None


def _sqlstate(exc: BaseException) -> str | None:
    for owner in (exc, getattr(exc, "orig", None)):  # sqlalchemy wraps the driver's error
        for attr in ("pgcode", "sqlstate"):
            value = getattr(owner, attr, None)
            if isinstance(value, str) and len(value) == 5:
                return value
    return None


def _host(exc: BaseException) -> str | None:
    for owner in (getattr(exc, "request", None), _response_of(exc)):
        url = getattr(owner, "url", None)
        if url is not None:
            host = getattr(url, "host", None) or urlsplit(str(url)).hostname
            if host:
                return str(host)
    url = getattr(exc, "url", None) or getattr(exc, "filename", None)
    if isinstance(url, str) and "://" in url:
        return urlsplit(url).hostname
    host = getattr(exc, "host", None)
    return host if isinstance(host, str) and host else None


def error_facts(exc: BaseException) -> dict[str, Any]:
    """The facts ``exc`` (and the exceptions it was raised from) carries, as attributes.

    ``http.response.status_code``, ``rpc.grpc.status_code`` (the code's name),
    ``db.response.status_code`` (SQLSTATE), ``server.address`` and semtrace's
    ``semtrace.error.errno``, ``semtrace.error.code`` (the provider's error code) and
    ``semtrace.error.retry_after_s``. The outermost exception that has a fact wins.
    """
    facts: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None and key not in facts:
            facts[key] = value

    try:
        for link in _chain(exc):
            put(sc.HTTP_RESPONSE_STATUS_CODE, _status(link))
            put(sc.RPC_GRPC_STATUS_CODE, _grpc_code(link))
            put(sc.DB_RESPONSE_STATUS_CODE, _sqlstate(link))
            put(sc.SEMTRACE_ERROR_CODE, _provider_code(link))
            errno = as_int(getattr(link, "errno", None))
            put(sc.SEMTRACE_ERROR_ERRNO, errno)
            put(sc.SERVER_ADDRESS, _host(link))
            wait = getattr(link, "retry_after", None)
            if wait is None:
                wait = _header(_headers(link), "Retry-After")
            put(sc.SEMTRACE_ERROR_RETRY_AFTER_S, retry_after_seconds(wait))
    except Exception:  # a strange exception object must never break failure recording
        return facts
    return facts
