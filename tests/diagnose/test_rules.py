"""The offline rules classify on facts first: each rule with a case it must get and a case
it must not take (a negative), on real exceptions where the library is installed and on
recorded facts where it is not (a span from another process carries only what was stored)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import requests

import semtrace
from semtrace.diagnose import Action, Category, Diagnosis
from semtrace.diagnose.classify import classify
from semtrace.diagnose.facts import facts_from_pack
from semtrace.diagnose.providers.rules import diagnose_pack


def _only(db: Path, **kw: Any) -> Diagnosis:
    diagnoses = semtrace.diagnose.run(db=db, **kw)
    assert len(diagnoses) == 1, [d.summary for d in diagnoses]
    return diagnoses[0]


def _response(status: int, body: dict[str, Any], **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "https://api.example.com/v1/chat/completions")
    return httpx.Response(status, headers=headers, json=body, request=request)


def _openai(cls: type[openai.APIStatusError], status: int, code: str, message: str) -> Exception:
    body = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return cls(
        f"Error code: {status} - {{'error': {body}}}", response=_response(status, body), body=body
    )


def _requests_http_error(status: int, reason: str) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response.url = "https://erp.example.com/vendors/V-1"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError("raise_for_status did not raise")


CASES: list[tuple[str, Callable[[], BaseException], Category, Action]] = [
    (
        "read timeout",
        lambda: requests.ReadTimeout(
            "HTTPSConnectionPool(host='erp.example.com', port=443): Read timed out. (read timeout=5)"
        ),
        Category.timeout,
        Action.retry_with_backoff,
    ),
    (
        "503 from a tool's service",
        lambda: _requests_http_error(503, "Service Unavailable"),
        Category.dependency_down,
        Action.retry_with_backoff,
    ),
    (
        "500 from a tool's service",
        lambda: _requests_http_error(500, "Internal Server Error"),
        Category.tool_error,
        Action.retry,
    ),
    (
        "404 from a tool's service",
        lambda: _requests_http_error(404, "Not Found"),
        Category.missing_data,
        Action.fix_input,
    ),
    (
        "connection refused",
        lambda: ConnectionRefusedError(111, "Connection refused"),
        Category.dependency_down,
        Action.retry_with_backoff,
    ),
    (
        "missing key",
        lambda: KeyError("last_updated"),
        Category.missing_data,
        Action.fix_input,
    ),
    (
        "invalid date",
        lambda: ValueError("time data '31/02/2024' does not match format '%Y-%m-%d'"),
        Category.bad_input,
        Action.fix_input,
    ),
    (
        "division by zero",
        lambda: ZeroDivisionError("division by zero"),
        Category.logic_bug,
        Action.code_change,
    ),
    (
        "index out of range",
        lambda: IndexError("list index out of range"),
        Category.logic_bug,
        Action.code_change,
    ),
    (
        "local file permission (not auth)",
        lambda: PermissionError(13, "Permission denied", "/srv/inbox/INV-7.csv"),
        Category.tool_error,
        Action.escalate_to_human,
    ),
    (
        "openai rate limit",
        lambda: _openai(
            openai.RateLimitError, 429, "rate_limit_exceeded", "Rate limit reached for gpt-4o"
        ),
        Category.rate_limit,
        Action.retry_with_backoff,
    ),
    (
        "openai key rejected",
        lambda: _openai(
            openai.AuthenticationError, 401, "invalid_api_key", "Incorrect API key provided"
        ),
        Category.auth,
        Action.escalate_to_human,
    ),
    (
        "openai context length",
        lambda: _openai(
            openai.BadRequestError,
            400,
            "context_length_exceeded",
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 8227 tokens.",
        ),
        Category.model_error,
        Action.fallback_model,
    ),
    (
        "invalid max_tokens (not context length)",
        lambda: _openai(
            openai.BadRequestError,
            400,
            "integer_below_min_value",
            "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but "
            "got -15335 instead.",
        ),
        Category.bad_input,
        Action.fix_input,
    ),
]


@pytest.mark.parametrize(
    ("exc", "category", "first"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_real_exceptions_from_a_tool(
    make_failure: Callable[..., None],
    configured: Path,
    exc: Callable[[], BaseException],
    category: Category,
    first: Action,
) -> None:
    """A real exception raised in a tool is classified from what was stored about it."""
    make_failure(exc(), vendor_id="V-1")
    d = _only(configured)
    assert (d.status, d.provider, d.category) == ("ok", "rules", category)
    assert d.actions()[0] is first
    assert d.summary.startswith("The procurement agent's lookup_vendor failed because")
    assert "Decided by " in d.root_cause
    assert d.evidence and d.evidence[0].kind == "span"


def test_retry_after_the_service_sent_sets_the_backoff(
    make_failure: Callable[..., None], configured: Path
) -> None:
    """The Retry-After of a 429 (recorded on the span) becomes the first backoff."""
    body = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
    make_failure(
        openai.RateLimitError(
            "Error code: 429", response=_response(429, body, **{"retry-after": "7"}), body=body
        )
    )
    d = _only(configured)
    assert d.category is Category.rate_limit
    first = max(d.remediations, key=lambda r: r.confidence)
    assert (first.action, first.parameters["base_delay_s"]) == (Action.retry_with_backoff, 7.0)
    assert "Retry-After" in first.rationale


def test_json_from_the_llm_is_model_error_from_a_tool_backend_tool_error(
    configured: Path,
) -> None:
    """The same JSONDecodeError is a model error in an LLM call and a tool error in a tool."""

    @semtrace.llm(model="gpt-4o-mini")
    def plan() -> Any:
        return json.loads("Sure! Here is the plan: step 1...")

    @semtrace.tool
    def erp() -> Any:
        return json.loads("<html>502 Bad Gateway</html>")

    for fn in (plan, erp):
        with pytest.raises(json.JSONDecodeError):
            fn()
    by_summary = {d.summary: d for d in semtrace.diagnose.run(db=configured)}
    assert sorted(by_summary) == [
        "The LLM call to gpt-4o-mini failed because the model's answer was not in the expected form.",
        "The tool erp failed because the tool's backend failed while serving it.",
    ]
    llm, tool = (by_summary[k] for k in sorted(by_summary))
    assert (llm.category, llm.actions()[0]) == (Category.model_error, Action.retry)
    assert tool.category is Category.tool_error


def _pack(
    error_type: str = "",
    message: str = "",
    *,
    where: str = "execute_tool",
    kind: str = "error",
    **attrs: Any,
) -> dict[str, Any]:
    pack: dict[str, Any] = {
        "failure": {"kind": kind, "error_type": error_type, "operation": where, "message": message},
        "span": {"attributes": attrs},
    }
    if error_type:
        pack["exception"] = {"type": error_type, "message": message}
    return pack


def _category(pack: dict[str, Any]) -> str:
    match = classify(facts_from_pack(pack))
    return match.rule.category.value if match else "unknown"


@pytest.mark.parametrize(
    ("pack", "category"),
    [
        # gRPC status, from the recorded code or the message grpc prints
        (
            _pack("grpc._channel._InactiveRpcError", "status = StatusCode.UNAVAILABLE"),
            "dependency_down",
        ),
        (_pack("grpc.RpcError", "deadline", **{"rpc.grpc.status_code": 4}), "timeout"),
        (_pack("grpc.RpcError", "quota", **{"rpc.grpc.status_code": 8}), "rate_limit"),
        # botocore's Error.Code
        (
            _pack(
                "botocore.exceptions.ClientError",
                "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
            ),
            "auth",
        ),
        (
            _pack(
                "botocore.exceptions.ClientError",
                "An error occurred (ThrottlingException) when calling the Query operation: Rate exceeded",
            ),
            "rate_limit",
        ),
        (
            _pack(
                "botocore.errorfactory.NoSuchKey",
                "An error occurred (NoSuchKey) when calling the GetObject operation",
            ),
            "missing_data",
        ),
        # SQLSTATE and vendor codes from a tool's database
        (
            _pack(
                "psycopg2.errors.QueryCanceled",
                "canceling statement due to statement timeout",
                **{"db.response.status_code": "57014"},
            ),
            "timeout",
        ),
        (_pack("psycopg2.errors.DeadlockDetected", "deadlock detected"), "tool_error"),
        (_pack("cx_Oracle.DatabaseError", "ORA-00942: table or view does not exist"), "tool_error"),
        (_pack("cx_Oracle.DatabaseError", "ORA-12541: TNS:no listener"), "dependency_down"),
        (
            _pack(
                "psycopg2.OperationalError", 'FATAL:  password authentication failed for user "app"'
            ),
            "auth",
        ),
        # MCP: a tool's isError result
        (
            _pack("McpError", "Error executing tool search", **{"error.type": "tool_error"}),
            "tool_error",
        ),
        # LLM-side facts: where it happened decides
        (
            _pack(
                "anthropic.InternalServerError",
                "Overloaded",
                where="chat",
                **{"http.response.status_code": 529},
            ),
            "dependency_down",
        ),
        (
            _pack(
                "openai.InternalServerError",
                "The server had an error",
                where="chat",
                **{"http.response.status_code": 500},
            ),
            "model_error",
        ),
        (
            _pack(
                "langchain_core.exceptions.OutputParserException",
                "Could not parse LLM output: `Thought:`",
                where="chat",
            ),
            "model_error",
        ),
        (
            _pack(
                "pydantic_core._pydantic_core.ValidationError",
                "1 validation error for Plan\nsteps\n  Field required [type=missing",
                where="chat",
            ),
            "model_error",
        ),
        (
            _pack(
                "pydantic_core._pydantic_core.ValidationError",
                "1 validation error for Vendor\nid\n  Field required [type=missing",
            ),
            "missing_data",
        ),
        # the failure's kind decides at once
        (
            _pack(kind="stuck_task", message="the task review waited in input_required"),
            "needs_human",
        ),
        (
            _pack(
                "langgraph.errors.GraphRecursionError",
                "Recursion limit of 25 reached without hitting a stop condition.",
            ),
            "logic_bug",
        ),
        (
            _pack(
                "stripe.error.CardError",
                "Your card was declined. This transaction requires authentication.",
            ),
            "needs_human",
        ),
        # words, when nothing else is known (a log sentence's cause)
        (
            _pack(kind="error_log", message="the ERP returned 503 after 3 retries"),
            "dependency_down",
        ),
        (_pack(kind="error_log", message="the Last-updated field was null"), "missing_data"),
        (_pack(kind="error_log", message="the printer caught fire"), "unknown"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_recorded_facts_decide(pack: dict[str, Any], category: str) -> None:
    """A failure known only from what was stored is classified on those facts."""
    assert _category(pack) == category


_CHAT = {"where": "chat"}

# Each rule's negative: a realistic failure that shares the rule's words (or its exception
# family) but is not its kind. (pack, the rule that must not decide, the right category)
_NEGATIVES: list[tuple[dict[str, Any], str, str]] = [
    # "rate_limit" in a config error is a bad setting, not a rate limit
    (
        _pack("ValueError", "rate_limit must be a positive integer, got -1"),
        "rate limit",
        "bad_input",
    ),
    # a quota that will not come back is not a plain rate limit to wait out
    (
        _pack(
            "openai.RateLimitError",
            "You exceeded your current quota, please check your plan and billing details.",
            **_CHAT,
            **{"http.response.status_code": 429},
        ),
        "rate limit",
        "rate_limit",
    ),
    # Google's per-minute "Quota exceeded" clears within the minute: not an exhausted quota
    (
        _pack(
            "google.api_core.exceptions.ResourceExhausted",
            "429 Quota exceeded for quota metric 'Generate Content API requests per minute' and "
            "limit 'GenerateContent request limit per minute for a region'",
            **_CHAT,
        ),
        "quota exhausted",
        "rate_limit",
    ),
    # a TPM limit the request fits under is waited out, not trimmed
    (
        _pack(
            "openai.RateLimitError",
            "Error code: 429 - Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000,"
            " Used 29500, Requested 1200. Please try again in 1.4s.",
            **_CHAT,
            **{"http.response.status_code": 429},
        ),
        "request over the rate limit",
        "rate_limit",
    ),
    # a keyword argument named timeout is a bug, not a timeout
    (
        _pack("TypeError", "Session.request() got an unexpected keyword argument 'timeout'"),
        "timeout",
        "logic_bug",
    ),
    # a connect timeout is the connection, not a statement's deadline
    (
        _pack(
            "psycopg2.OperationalError",
            'connection to server at "db.internal" (10.0.0.5), port 5432 failed: timeout expired',
        ),
        "deadline",
        "timeout",
    ),
    # a sentence saying a step is slow is not a slow span
    (
        _pack(kind="error_log", message="the nightly report is slow: the vendor id was missing"),
        "slow step",
        "missing_data",
    ),
    # aiohttp's "Cannot connect to host" for a refused certificate: the host is up
    (
        _pack(
            "aiohttp.client_exceptions.ClientConnectorCertificateError",
            "Cannot connect to host api.example.com:443 ssl:True [SSLCertVerificationError: (1, "
            "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
            "certificate in certificate chain (_ssl.c:1006)')]",
        ),
        "dependency down",
        "tool_error",
    ),
    # a refused connection of an LLM client is the provider, not the tool
    (
        _pack("openai.APIConnectionError", "Connection error.", **_CHAT),
        "dependency down",
        "dependency_down",
    ),
    # a tool's backend that is overloaded is that dependency, not the model provider
    (
        _pack(
            "requests.exceptions.HTTPError",
            "503 Server Error: Service Unavailable for url: http://search.internal/query",
            **{"http.response.status_code": 503},
        ),
        "model provider down",
        "dependency_down",
    ),
    # "got 403" in a message is not an HTTP status, so not auth
    (
        _pack("RuntimeError", "expected 200 rows, got 403 rows from the export"),
        "auth",
        "unknown",
    ),
    (
        _pack(kind="error_log", message="the query returned 403 rows, not the 500 expected"),
        "auth",
        "unknown",
    ),
    # a 403 that says rate limit is a rate limit (GitHub's secondary limit)
    (
        _pack(
            "github.GithubException.RateLimitExceededException",
            "403 You have exceeded a secondary rate limit",
            **{"http.response.status_code": 403},
        ),
        "auth",
        "rate_limit",
    ),
    # a PermissionError on a file is not a credential problem
    (
        _pack("PermissionError", "[Errno 13] Permission denied: '/tmp/out.csv'"),
        "auth",
        "tool_error",
    ),
    # "Invalid json output" from the LLM's parser is the model's answer, not bad input
    (
        _pack(
            "langchain_core.exceptions.OutputParserException",
            "Invalid json output: Sure! Here is the plan you asked for:",
            **_CHAT,
        ),
        "bad input",
        "model_error",
    ),
    # JSON the LLM wrote is not bad input either
    (
        _pack("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", **_CHAT),
        "bad input",
        "model_error",
    ),
    # a 400 for too many tokens is the context window, not a bad parameter
    (
        _pack(
            "openai.BadRequestError",
            "Error code: 400 - This model's maximum context length is 8192 tokens. However, your "
            "messages resulted in 9120 tokens.",
            **_CHAT,
            **{"http.response.status_code": 400},
        ),
        "bad request",
        "model_error",
    ),
    # a model that does not exist is the model's name, not missing data
    (
        _pack(
            "openai.NotFoundError",
            "Error code: 404 - The model `gpt-5-turbo` does not exist or you do not have access "
            "to it.",
            **_CHAT,
            **{"http.response.status_code": 404},
        ),
        "missing data",
        "model_error",
    ),
    # an MCP server without the tool: the tool's setup, not a missing record
    (
        _pack("McpError", "MCP error -32602: Tool search_orders not found"),
        "not found",
        "tool_error",
    ),
    # a server's internal error at the LLM is the model provider, not a tool's backend
    (
        _pack(
            "openai.InternalServerError",
            "The server had an error while processing your request. Sorry about that!",
            **_CHAT,
            **{"http.response.status_code": 500},
        ),
        "tool backend error",
        "model_error",
    ),
    # "Unexpected error" around an IndexError is the bug, not the backend
    (
        _pack(kind="error_log", message="Unexpected error in step rank: list index out of range"),
        "tool backend error",
        "logic_bug",
    ),
    # a 409 for a name that exists is a duplicate to fix, not a conflict to retry
    (
        _pack(
            "github.GithubException",
            '409 {"message": "Reference already exists", "status": "409"}',
            **{"http.response.status_code": 409},
        ),
        "transient database conflict",
        "bad_input",
    ),
    # Stripe's plain rate limit is a rate limit, not a lock on the object
    (
        _pack("Stripe::RateLimitError", "Request rate limit exceeded. Retry the request later."),
        "object locked",
        "rate_limit",
    ),
    # a subprocess that ran out of time timed out; it is not misconfigured
    (
        _pack(
            "subprocess.TimeoutExpired",
            "Command '['pytest', '-x']' timed out after 600 seconds",
        ),
        "tool misconfigured",
        "timeout",
    ),
    # an MCP error with a timeout code is a timeout, not the tool's error result
    (
        _pack("McpError", "MCP error -32001: Request timed out"),
        "tool reported an error",
        "timeout",
    ),
    # a tool's own length limit is its input, not the model's context window
    (
        _pack("ValueError", "Prompt is too long, max tokens supported is 77 or less, got 93"),
        "context length",
        "bad_input",
    ),
    # Invalid 'max_tokens' is not the context length either
    (
        _pack(
            "openai.BadRequestError",
            "Invalid 'max_tokens': integer below minimum value",
            **_CHAT,
            **{"http.response.status_code": 400},
        ),
        "context length",
        "bad_input",
    ),
    # a tool's setting called content_filter is a setting
    (
        _pack("ValueError", "content_filter must be one of: none, low, high; got 'strict'"),
        "content filter",
        "bad_input",
    ),
    # JSON a tool's backend sent is the backend, not the model's answer
    (
        _pack("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)"),
        "unparsable model output",
        "tool_error",
    ),
    # asking for more output tokens than the model has is a bad parameter, not a cut-off answer
    (
        _pack(
            "anthropic.BadRequestError",
            "Error code: 400 - max_tokens: 64000 > 8192, which is the maximum allowed number of "
            "output tokens for claude-3-5-sonnet-20240620",
            **_CHAT,
            **{"http.response.status_code": 400},
        ),
        "answer cut off",
        "bad_input",
    ),
    # a dbt model that was not found is data, not an LLM model
    (
        _pack(
            "dbt.exceptions.CompilationError",
            "Model 'model.shop.orders' depends on a node named 'stg_orders' which was not found",
        ),
        "model not found",
        "missing_data",
    ),
    # a tool's 500 is the tool's backend, not the model provider
    (
        _pack(
            "requests.exceptions.HTTPError",
            "500 Server Error: Internal Server Error for url: http://erp.internal/api/orders",
            **{"http.response.status_code": 500},
        ),
        "model server error",
        "tool_error",
    ),
    # an AttributeError on None is missing data, not a bug; one not about None is a bug
    (
        _pack("TypeError", "'NoneType' object is not subscriptable"),
        "logic bug",
        "missing_data",
    ),
    (
        _pack("AttributeError", "'NoneType' object has no attribute 'strip'"),
        "logic bug",
        "missing_data",
    ),
    (
        _pack("AttributeError", "'dict' object has no attribute 'strip'"),
        "missing data",
        "logic_bug",
    ),
    # a mock called twice is a failed assertion, not a runaway recursion
    (
        _pack("AssertionError", "Expected 'send' to have been called once. Called 2 times."),
        "runaway recursion",
        "logic_bug",
    ),
    # a tool error whose message mentions the same arguments is not a loop of calls
    (
        _pack(
            "ValueError",
            "search_flights was called again with the same arguments: invalid date '2024-02-30'",
        ),
        "repeated tool calls",
        "bad_input",
    ),
    # GitHub's 401 "Requires authentication" is a missing credential, not a person to wait on
    (
        _pack(
            "httpx.HTTPStatusError",
            "Client error '401 Unauthorized' for url 'https://api.github.com/user': "
            '{"message": "Requires authentication"}',
            **{"http.response.status_code": 401},
        ),
        "needs a human",
        "auth",
    ),
    # exit status 137 is not an HTTP status
    (
        _pack(
            "subprocess.CalledProcessError",
            "Command 'train.py' returned non-zero exit status 137.",
        ),
        "rate limit",
        "tool_error",
    ),
    # redis' "Error 111" is an errno, and a refused connection
    (
        _pack(
            "redis.exceptions.ConnectionError",
            "Error 111 connecting to localhost:6379. Connection refused.",
        ),
        "tool backend error",
        "dependency_down",
    ),
    # a server-selection *timeout* whose reason is a refused connection is the dependency
    (
        _pack(
            "pymongo.errors.ServerSelectionTimeoutError",
            "localhost:27017: [Errno 111] Connection refused",
        ),
        "timeout",
        "dependency_down",
    ),
]


def _decided_by(pack: dict[str, Any]) -> str:
    match = classify(facts_from_pack(pack))
    return match.rule.name if match else ""


@pytest.mark.parametrize(
    ("pack", "not_rule", "category"),
    _NEGATIVES,
    ids=[f"not {rule}: {pack['failure']['message'][:40]}" for pack, rule, _ in _NEGATIVES],
)
def test_negatives(pack: dict[str, Any], not_rule: str, category: str) -> None:
    """Each rule leaves alone what only looks like its kind."""
    assert _decided_by(pack) != not_rule
    assert _category(pack) == category


def test_every_rule_has_a_negative() -> None:
    """No rule goes without a case it must not take."""
    from semtrace.diagnose.classify import RULES

    assert set(RULES) - {rule for _, rule, _ in _NEGATIVES} == set()


def test_quota_is_escalated_before_waiting() -> None:
    """An exhausted quota asks a person first; waiting does not bring credit back."""
    draft = diagnose_pack(
        _pack(
            "openai.RateLimitError",
            "You exceeded your current quota, please check your plan and billing details.",
            where="chat",
            **{"http.response.status_code": 429},
        )
    )
    assert max(draft.remediations, key=lambda r: r.confidence).action is Action.escalate_to_human


_ONE_OF_EACH = {
    Category.rate_limit: _pack("openai.RateLimitError", "Rate limit reached", **_CHAT),
    Category.timeout: _pack("httpx.ReadTimeout", "The read operation timed out"),
    Category.dependency_down: _pack(
        "requests.exceptions.ConnectionError",
        "HTTPConnectionPool(host='erp', port=80): Max retries exceeded with url: /orders "
        "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] "
        "Connection refused'))",
    ),
    Category.auth: _pack("openai.AuthenticationError", "Incorrect API key provided", **_CHAT),
    Category.bad_input: _pack("ValueError", "invalid literal for int() with base 10: 'n/a'"),
    Category.missing_data: _pack("KeyError", "'customer_id'"),
    Category.tool_error: _pack(
        "McpError", "Error executing tool search", **{"error.type": "tool_error"}
    ),
    Category.model_error: _pack(
        "langchain_core.exceptions.OutputParserException",
        "Could not parse LLM output: `I think the answer is 4`",
        **_CHAT,
    ),
    Category.logic_bug: _pack("ZeroDivisionError", "division by zero"),
    Category.needs_human: _pack(
        kind="stuck_task", message="the task review waited in input_required"
    ),
    Category.unknown: _pack(kind="error_log", message="the printer caught fire"),
}


def test_every_category_is_reachable() -> None:
    """classify() itself answers each category of the model for some failure."""
    assert set(_ONE_OF_EACH) == set(Category)
    for category, pack in _ONE_OF_EACH.items():
        assert _category(pack) == category.value, category


def test_null_field_in_semantic_failure_log(configured: Path) -> None:
    """A log.failure sentence about a null field (no exception) is missing_data."""
    log = semtrace.get_logger(agent="procurement")
    with semtrace.agent("procurement"):
        log.failure(
            action="retrieve the vendor ID",
            cause="the Last-updated field was null",
            impact="no valid match could be made",
        )
    d = _only(configured)
    assert d.category is Category.missing_data
    assert d.evidence[0].kind == "log"


def test_input_required_wait_is_needs_human(configured: Path) -> None:
    """An error sentence about a task stuck in input_required asks for a human."""
    log = semtrace.get_logger(agent="compliance")
    with semtrace.agent("compliance"):
        log.error("the compliance review is still waiting in input_required for a human")
    d = _only(configured)
    assert d.category is Category.needs_human
    assert d.actions() == [Action.escalate_to_human]


def test_repeated_identical_tool_calls_are_a_loop(configured: Path) -> None:
    """Five identical calls of one tool in one trace are diagnosed as a logic-bug loop."""

    @semtrace.tool("search_flights")
    def search(city: str) -> list[str]:
        return []

    with semtrace.agent("travel"):
        for _ in range(5):
            search("Paris")
        search("Rome")  # different arguments: not part of the loop
    d = _only(configured)
    assert d.category is Category.logic_bug
    assert d.actions()[0] is Action.circuit_break
    assert "search_flights" in d.summary or "same tool" in d.summary


def test_slow_step_is_a_timeout(configured: Path) -> None:
    """The one step that held a synchronous chain up is diagnosed as a timeout."""

    @semtrace.tool("hotel_api")
    def hotel() -> None:
        time.sleep(0.25)

    with semtrace.agent("travel"):
        hotel()
    d = _only(configured, slow_ms=150)
    assert d.category is Category.timeout


def test_unknown_failure_is_honest(make_failure: Callable[..., None], configured: Path) -> None:
    """A failure no rule recognises is 'unknown' and says so instead of guessing."""
    make_failure(RuntimeError("flux capacitor misaligned"))
    d = _only(configured)
    assert d.category is Category.unknown
    assert "no rule recognised" in d.summary
    assert "flux capacitor misaligned" in d.root_cause


def test_task_that_waited_too_long_for_a_human(configured: Path, waited_task: None) -> None:
    """A task that sat in input_required past the threshold is needs_human (tasks view)."""
    d = _only(configured, stuck_s=0.01)
    assert d.category is Category.needs_human
    assert d.actions() == [Action.escalate_to_human]
    assert d.summary.startswith("The compliance agent's compliance review was held up because")
    assert d.evidence[0].kind == "task"
