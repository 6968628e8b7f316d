"""The facts of one failure, read from its context pack: what the offline rules classify on.

Structured facts come first, from where they were recorded: the span's attributes (the
status codes and error codes an exception carried, see :mod:`semtrace.telemetry.errors`,
or an instrumentation's ``http.response.status_code``, ``rpc.grpc.status_code``,
``error.type``, ``db.*``), the exception's qualified type, and where the failure happened (a
tool, the LLM, an agent's own code). When a fact was not recorded (a span from another
process, a log sentence), it is read from the message the way the library prints it:
``Error code: 429``, ``503 Server Error``, ``StatusCode.UNAVAILABLE``, ``[Errno 111]``,
``SQLSTATE 57014``, ``ORA-00942``, ``An error occurred (AccessDenied)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from semtrace import semconv as sc
from semtrace.telemetry.errors import as_int

__all__ = ["GRPC_CODES", "Facts", "facts_from_pack", "where_of"]

# gRPC status codes by number (the semconv records the number; messages print either).
GRPC_CODES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
_LLM_OPERATIONS = frozenset(
    {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS}
)
_WHERE = {
    sc.OP_EXECUTE_TOOL: "tool",
    sc.OP_RETRIEVAL: "tool",
    sc.OP_INVOKE_AGENT: "agent",
    sc.OP_INVOKE_WORKFLOW: "step",
    **dict.fromkeys(_LLM_OPERATIONS, "llm"),
}

_STATUS_PATTERNS = (
    re.compile(r"\bError code: ([1-5]\d\d)\b"),
    re.compile(r"^\s*([1-5]\d\d) (?:Client|Server) Error\b", re.M),
    re.compile(r"\bHTTP(?: Error|/[\d.]+)? ?:? ?([1-5]\d\d)\b"),
    re.compile(r"\bHttpError ([1-5]\d\d)\b"),  # googleapiclient: <HttpError 503 when requesting
    re.compile(
        r"(?<!exit )\b(?:status(?:[ _]?code)?|statusCode|http_status|code)\W{0,3}([1-5]\d\d)\b",
        re.I,
    ),
    re.compile(r"'([1-5]\d\d) [A-Z][a-z]+"),  # httpx: Client error '422 Unprocessable ...'
    re.compile(
        r"^\s*(?:API Error: )?([1-5]\d\d)\b(?= \{| [A-Z][a-z]| [A-Z_]{5,}\b)"
    ),  # 429 {...}, 529 Overloaded, google-genai's 429 RESOURCE_EXHAUSTED
    re.compile(r"^\s*([1-5]\d\d), message="),  # aiohttp: 429, message='Too Many Requests'
    re.compile(r"Error\(([1-5]\d\d), "),  # elasticsearch: TransportError(503, '...')
    re.compile(r"^\(([1-5]\d\d)\)\s*Reason:", re.M),  # OpenAPI-generated: (404)\nReason: ...
    re.compile(r"\b([1-5]\d\d) \((?:[A-Z][a-z]+ ?)+\)"),  # Unexpected Response: 404 (Not Found)
    re.compile(r"too many ([1-5]\d\d) error responses"),  # urllib3's retries given up
    re.compile(r"\(([1-5]\d\d)\) when calling"),  # botocore: An error occurred (403) when calling
    # a sentence about a service: "the ERP returned 503" (not "returned 403 rows")
    re.compile(
        r"\b(?:returned|answered|received|responded(?: with)?)\s+(?:an? )?(?:HTTP |status |error:? )?"
        r"([1-5]\d\d)\b(?!\s*(?:rows|items|records|results|bytes|ms|s)\b)"
    ),
)
_ERRNO = re.compile(r"\[(?:Errno|WinError) (-?\d+)\]|\bErrno (-?\d+)|\bError (\d+) connecting to")
# errno names as C, Node and Go print them, with their Linux numbers (getaddrinfo's EAI_* as
# Python's socket.gaierror numbers them).
_ERRNO_NAMES = {
    "EPERM": 1,
    "ENOENT": 2,
    "EINTR": 4,
    "EIO": 5,
    "EBADF": 9,
    "EAGAIN": 11,
    "ENOMEM": 12,
    "EACCES": 13,
    "EEXIST": 17,
    "ENOTDIR": 20,
    "EISDIR": 21,
    "EINVAL": 22,
    "ENFILE": 23,
    "EMFILE": 24,
    "ENOSPC": 28,
    "EROFS": 30,
    "EPIPE": 32,
    "ENAMETOOLONG": 36,
    "EADDRINUSE": 98,
    "EADDRNOTAVAIL": 99,
    "ENETDOWN": 100,
    "ENETUNREACH": 101,
    "ECONNABORTED": 103,
    "ECONNRESET": 104,
    "ETIMEDOUT": 110,
    "ECONNREFUSED": 111,
    "EHOSTDOWN": 112,
    "EHOSTUNREACH": 113,
    "EDQUOT": 122,
    "ENOTFOUND": -2,  # Node's getaddrinfo ENOTFOUND
    "EAI_NONAME": -2,
    "EAI_AGAIN": -3,
}
_ERRNO_NAME = re.compile(r"\b(" + "|".join(_ERRNO_NAMES) + r")\b")
_GRPC = re.compile(
    r"StatusCode\.([A-Z_]+)|\b(\d{1,2}) (" + "|".join(sorted(GRPC_CODES.values())) + r")\b"
    # Google's JSON errors name the canonical code: "status": "RESOURCE_EXHAUSTED"
    r"""|['"]status['"]\s*:\s*['"]([A-Z_]{5,})['"]"""
    # Java and Go print it first: "DEADLINE_EXCEEDED: deadline exceeded after 9.9s"
    r"|^\s*(?:\S+: )?(" + "|".join(sorted(GRPC_CODES.values())) + r"): ",
    re.M,
)
_SQLSTATE = re.compile(
    r"SQLSTATE[\s:=\[]*([0-9A-Z]{5})"
    r"""|^\(['"]([0-9A-Z]{5})['"], """  # pyodbc: ('42S02', '[42S02] [Microsoft]...')
    r"|\b\d{4} \(([0-9A-Z]{5})\): "  # mysql-connector: 1045 (28000): Access denied
)
_VENDOR = re.compile(r"\b((?:ORA|TNS)-\d{5})\b")
# MySQL's and SQL Server's numbered errors, told by the driver or the words around them:
# pymysql's (2003, "Can't connect ..."), mysql-connector's 1045 (28000): ..., pymssql's
# (18456, b"Login failed ..."), pyodbc's "... [SQL Server]Invalid object name 'x'. (208)".
_DB_NUMBER = re.compile(
    r"""\((\d{3,5}), b?['"]|\b(\d{3,5}) \([0-9A-Z]{5}\): |\((\d{3,5})\) \(SQL"""
)
_DB_VENDORS = (
    ("MySQL", re.compile(r"mysql|mariadb", re.I)),
    ("SQL Server", re.compile(r"sql ?server|mssql|\btds\b|pyodbc", re.I)),
)
# The service's own code, most specific first: OpenAI's code beats the type next to it.
_PROVIDER_CODES = (
    re.compile(r"""['"]code['"]\s*:\s*['"]([A-Za-z_]+)['"]"""),  # 'code': 'rate_limit_exceeded'
    re.compile(r"An error occurred \(([A-Za-z][A-Za-z0-9.]+)\) when calling"),  # botocore
    re.compile(
        r"""['"]codeName['"]\s*:\s*['"]([A-Za-z]+)['"]"""
    ),  # MongoDB: 'codeName': 'DuplicateKey'
    re.compile(r"\b(?:Error)?Code: ?([A-Z][A-Za-z]+)\b"),  # Azure: Code: AuthorizationFailure
    re.compile(r"\bcode: ?([a-z][a-z_]+)\b"),  # Stripe, Go clients: code:model_not_found
    # Salesforce's and DocuSign's errorCode, Plaid's error_code
    re.compile(r"""['"](?:errorCode|error_code)['"]\s*:\s*['"]([A-Za-z_]+)['"]"""),
    re.compile(r"""['"]type['"]\s*:\s*['"]([a-z_]+_error)['"]"""),  # "type": "rate_limit_error"
    re.compile(
        r"['\"]reason['\"]\s*:\s*['\"]([A-Za-z]+)['\"]"
    ),  # Google: "reason": "rateLimitExceeded"
    # OAuth 2.0 / OpenID error codes (RFC 6749 5.2, OIDC 3.1.2.6), in JSON or leading the text
    re.compile(r"""['"]error['"]\s*:\s*['"]([a-z_]{5,})['"]"""),  # "error": "invalid_grant"
    re.compile(r"^\W*([a-z]+_[a-z_]+): ", re.M),  # google-auth: ('invalid_grant: Token has ...
    re.compile(r"\b(AADSTS\d{5,7})\b"),  # Microsoft Entra ID's sign-in errors
    # AWS event streams name the exception in a header: ':exception-type': 'throttlingException'
    re.compile(r""":exception-type['"]?\s*:\s*['"]([A-Za-z]+)['"]"""),
)
# Redis answers with an upper-case error prefix: NOAUTH, WRONGPASS, WRONGTYPE, LOADING, OOM ...
_REDIS_PREFIX = re.compile(r"^\W*([A-Z]{3,}[A-Z_]*)\b(?! [A-Z]{3,})")
_RETRY_IN = re.compile(
    r"(?:try again|retry) (?:in|after) (\d+(?:\.\d+)?) ?(ms|s|sec|secs|seconds?)\b", re.I
)


@dataclass(frozen=True)
class Facts:
    """One failure as the rules see it."""

    kind: str  # error, error_log, slow, stuck_task, loop
    where: str  # tool, llm, agent, step or "" (unknown)
    error_type: str  # qualified ("requests.exceptions.ReadTimeout"), "" for none
    message: str  # the exception message, else the failure's sentence
    text: str  # everything worth pattern matching: message, cause, sentences
    status_code: int | None = None
    errno: int | None = None
    grpc_code: str | None = None
    sql_state: str | None = None  # SQLSTATE, or Oracle's code (ORA-00942)
    provider_code: str | None = None  # rate_limit_exceeded, AccessDenied, tool_error, ...
    retry_after_s: float | None = None
    db_code: str | None = None  # a numbered vendor error: "MySQL 1205", "SQL Server 18456"
    jsonrpc_code: int | None = None  # -32601, from rpc.response.status_code or the message
    finish_reasons: tuple[str, ...] = ()  # gen_ai.response.finish_reasons: length, ...

    @property
    def type_name(self) -> str:
        """The exception class' own name (``ReadTimeout``; the last part of a Rust or PHP
        path, ``std::io::Error`` or ``App\\Http\\TimeoutException``)."""
        return _NAMESPACE.split(self.error_type.rsplit(".", 1)[-1])[-1]

    @property
    def module(self) -> str:
        """The exception class' module (``requests.exceptions``), "" for builtins."""
        return self.error_type.rpartition(".")[0]


_NAMESPACE = re.compile(r"::|\\")  # Rust's and PHP's path separators


def where_of(operation: Any) -> str:
    """tool, llm, agent or step for a ``gen_ai.operation.name``; "" when unknown."""
    return _WHERE.get(str(operation or ""), "")


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    if m is None:
        return None
    return next((g for g in m.groups() if g), None)


def _grpc_name(value: Any) -> str | None:
    number = as_int(value)
    if number is not None:
        return GRPC_CODES.get(number)
    name = str(value or "").upper().removeprefix("STATUSCODE.")
    return name if name in GRPC_CODES.values() else None


def _from_message(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pattern in _STATUS_PATTERNS:
        code = as_int(_first(pattern, text))
        if code is not None:
            found["status_code"] = code
            break
    errno = as_int(_first(_ERRNO, text))
    if errno is None and (name := _first(_ERRNO_NAME, text)):
        errno = _ERRNO_NAMES[name]
    found["errno"] = errno
    found["grpc_code"] = _grpc_name(_first(_GRPC, text))
    found["sql_state"] = _first(_SQLSTATE, text) or _first(_VENDOR, text)
    found["provider_code"] = next(
        (name for p in _PROVIDER_CODES if (name := _first(p, text)) is not None), None
    )
    m = _RETRY_IN.search(text)
    if m is not None:
        seconds = float(m.group(1))
        found["retry_after_s"] = seconds / 1000 if m.group(2) == "ms" else seconds
    return found


def _db_vendor(attrs: Mapping[str, Any], error_type: str, text: str) -> str | None:
    """MySQL or SQL Server, from ``db.system``, the driver's module or the words."""
    said = f"{attrs.get(sc.DB_SYSTEM) or ''} {error_type} {text[:300]}"
    return next((vendor for vendor, pattern in _DB_VENDORS if pattern.search(said)), None)


def _finish_reasons(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def facts_from_pack(pack: Mapping[str, Any]) -> Facts:
    """The facts of the failure a context pack describes (see :mod:`.context`)."""
    failure = pack.get("failure") or {}
    exc = pack.get("exception") or {}
    span = pack.get("span") or {}
    attrs = span.get("attributes") or {}
    details = failure.get("details") or {}
    error_type = str(failure.get("error_type") or exc.get("type") or "")
    message = str(
        exc.get("message") or details.get("exception_message") or details.get("cause") or ""
    )
    sentence = str(failure.get("message") or "")
    parts = [message, str(details.get("cause") or "")]
    if not message:
        parts.append(sentence)  # a failure without an exception: its sentence is the evidence
    # error.type as the conventions' low-cardinality words ("timeout", "cancelled")
    error_kind = str(attrs.get(sc.ERROR_TYPE) or "")
    if re.fullmatch(r"[a-z_]+", error_kind) and error_kind != "tool_error":
        parts.append(error_kind)
    for log in pack.get("logs") or []:
        if log.get("on_failing_span") and log.get("severity") in {"ERROR", "CRITICAL", "WARNING"}:
            parts.append(str(log.get("message") or ""))
    text = "\n".join(p for p in parts if p)
    said = _from_message(text)
    operation = (
        failure.get("operation") or span.get("operation") or attrs.get(sc.GEN_AI_OPERATION_NAME)
    )
    where = where_of(operation) or str(failure.get("where") or "")
    if not where and (attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM)):
        where = "llm"
    # error.type is also an exception's type, or an HTTP status ("503")
    provider_code = attrs.get(sc.SEMTRACE_ERROR_CODE)
    if provider_code is None and error_kind == "tool_error":  # MCP's isError
        provider_code = "tool_error"
    if not error_type and re.fullmatch(r"[\w.]*(Error|Exception|Timeout)\w*", error_kind):
        error_type = error_kind
    status = as_int(attrs.get(sc.HTTP_RESPONSE_STATUS_CODE) or attrs.get(sc.HTTP_STATUS_CODE))
    if status is None and re.fullmatch(r"[1-5]\d\d", error_kind):
        status = int(error_kind)
    rpc_status = attrs.get(sc.RPC_RESPONSE_STATUS_CODE)
    jsonrpc = as_int(rpc_status)
    if jsonrpc is not None and not -32768 <= jsonrpc <= -32000:
        jsonrpc = None
    grpc = _grpc_name(attrs.get(sc.RPC_GRPC_STATUS_CODE))
    if grpc is None and jsonrpc is None and rpc_status is not None:
        grpc = _grpc_name(rpc_status)
    # database codes: a five-character SQLSTATE, Oracle's ORA-, or a vendor's number
    recorded_db = str(attrs.get(sc.DB_RESPONSE_STATUS_CODE) or "")
    vendor = _db_vendor(attrs, error_type, text)
    errno = as_int(attrs.get(sc.SEMTRACE_ERROR_ERRNO))
    # five digits are a SQLSTATE ("23505") unless the database is one that numbers its errors
    numbered = recorded_db.isdigit() and (len(recorded_db) != 5 or vendor is not None)
    db_number = recorded_db if numbered else _first(_DB_NUMBER, text)
    if vendor == "MySQL" and errno is not None and 1000 <= errno < 10000:
        db_number, errno = str(errno), None  # mysql-connector's errno is MySQL's own number
    sql_state = None if numbered else recorded_db or said.get("sql_state")
    if errno is None:
        errno = said.get("errno")
    if provider_code is None and error_type.startswith(("redis", "aioredis", "valkey")):
        provider_code = _first(_REDIS_PREFIX, message)
    return Facts(
        kind=str(failure.get("kind") or "error"),
        where=where,
        error_type=error_type,
        message=message or sentence,
        text=text,
        status_code=status if status is not None else said.get("status_code"),
        errno=errno,
        grpc_code=grpc or said.get("grpc_code"),
        sql_state=sql_state,
        provider_code=str(provider_code or "") or said.get("provider_code"),
        retry_after_s=attrs.get(sc.SEMTRACE_ERROR_RETRY_AFTER_S) or said.get("retry_after_s"),
        db_code=f"{vendor} {int(db_number)}" if vendor and db_number else None,
        jsonrpc_code=jsonrpc,
        finish_reasons=_finish_reasons(attrs.get(sc.GEN_AI_RESPONSE_FINISH_REASONS)),
    )
