"""Classification of a failure on its facts first, its words last.

The order is the strength of the evidence. The failure's kind (a task waiting on a human, a
loop of identical calls, a slow step) decides at once. Then the codes a service sent (its
own error code, the gRPC status, the SQLSTATE or vendor code, the errno, the HTTP status),
read where the failure happened (a tool's backend, the LLM, the agent's own code). Then the
exception's type and module (builtins, asyncio, socket, requests/httpx/urllib3/aiohttp, grpc,
openai/anthropic, botocore, DB drivers, LangChain). Last, the words of the message. What
nothing recognises is ``unknown``, never a guess.

Every matcher returns a :class:`Match`: the :class:`Rule` (category, explanation, ranked
remediations) and the evidence that decided it, in words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semtrace.diagnose.facts import Facts
from semtrace.diagnose.models import Action, Category

__all__ = ["MATCHERS", "RULES", "Match", "Rule", "classify"]

Fix = tuple[Action, float, str, dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """One recognised kind of failure."""

    name: str
    category: Category
    what: str  # finishes "… failed because …"
    why: str
    remediations: tuple[Fix, ...] = field(default=())


@dataclass(frozen=True)
class Match:
    """The rule a failure matched and the fact that decided it."""

    rule: Rule
    evidence: str


def _r(
    name: str, category: Category, what: str, why: str, *fixes: Fix
) -> Rule:  # short for the table below
    return Rule(name, category, what, why, fixes)


A = Action
C = Category


def _each(names: str, rule: str) -> dict[str, str]:
    """``{name: rule}`` for each space-separated name."""
    return dict.fromkeys(names.split(), rule)


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        _r(
            "rate limit",
            C.rate_limit,
            "the service rate-limited it",
            "Too many requests (or tokens) were sent in a short time; the service refuses more "
            "until its window resets.",
            (A.retry_with_backoff, 0.85, "rate limits clear after a wait", {"base_delay_s": 1.0}),
            (A.fallback_model, 0.6, "another model or provider has its own quota", {}),
            (A.circuit_break, 0.5, "stop sending until the window resets", {}),
        ),
        _r(
            "quota exhausted",
            C.rate_limit,
            "its quota or credit is used up",
            "The account's quota or balance is spent; waiting does not bring it back.",
            (A.escalate_to_human, 0.8, "someone must raise the quota or add credit", {}),
            (A.fallback_model, 0.6, "another provider or model has its own quota", {}),
        ),
        _r(
            "request over the rate limit",
            C.rate_limit,
            "one request was larger than its rate limit allows",
            "A single request asked for more (tokens) than the per-minute limit grants; waiting "
            "does not help, the same request is refused again.",
            (A.fix_input, 0.75, "send fewer tokens in one request", {}),
            (A.fallback_model, 0.6, "a model or tier with a higher limit", {}),
            (A.code_change, 0.45, "split the work into smaller requests", {}),
        ),
        _r(
            "timeout",
            C.timeout,
            "a call it made did not answer in time",
            "A dependency answered too slowly (or not at all) before the client's timeout.",
            (A.retry_with_backoff, 0.6, "slowness is often transient", {"base_delay_s": 0.5}),
            (A.increase_timeout, 0.55, "the call may finish with more time", {"factor": 2.0}),
            (A.fallback_tool, 0.45, "a faster alternative avoids the slow dependency", {}),
        ),
        _r(
            "deadline",
            C.timeout,
            "the work took longer than the time it was given",
            "The operation ran past its deadline (a statement timeout, an RPC deadline, or a "
            "slow step the whole chain waited on).",
            (A.increase_timeout, 0.65, "the work may need more time", {"factor": 2.0}),
            (
                A.retry_with_backoff,
                0.5,
                "a less loaded moment may be faster",
                {"base_delay_s": 0.5},
            ),
            (A.escalate_to_human, 0.3, "a query or step this slow may need a person", {}),
        ),
        _r(
            "slow step",
            C.timeout,
            "it took too long (a slow step the whole chain waited on)",
            "A dependency answered too slowly; in a synchronous chain every caller waited on it.",
            (
                A.increase_timeout,
                0.6,
                "the call may finish with a little more time",
                {"factor": 2.0},
            ),
            (A.retry_with_backoff, 0.55, "slowness is often transient", {"base_delay_s": 0.5}),
            (A.fallback_tool, 0.5, "a faster alternative avoids the slow dependency", {}),
        ),
        _r(
            "dependency down",
            C.dependency_down,
            "a service it depends on was down or unreachable",
            "The dependency did not accept the connection (down, restarting, or the wrong "
            "address).",
            (
                A.retry_with_backoff,
                0.7,
                "a restarting service comes back shortly",
                {"base_delay_s": 1.0},
            ),
            (A.fallback_tool, 0.55, "an alternative source avoids the dead dependency", {}),
            (A.circuit_break, 0.4, "stop hammering a service that is down", {}),
        ),
        _r(
            "model provider down",
            C.dependency_down,
            "the model provider was overloaded or unreachable",
            "The LLM API could not serve the request (overloaded, unreachable, or a bad "
            "gateway in front of it).",
            (
                A.retry_with_backoff,
                0.7,
                "provider overloads clear in seconds",
                {"base_delay_s": 2.0},
            ),
            (A.fallback_model, 0.6, "another model or provider is up", {}),
        ),
        _r(
            "auth",
            C.auth,
            "its credentials were rejected",
            "The key or token it used is missing, wrong, expired or lacks the permission; "
            "retrying will not help.",
            (A.escalate_to_human, 0.85, "someone must fix the credentials", {}),
            (A.circuit_break, 0.5, "stop calling until the credentials are fixed", {}),
        ),
        _r(
            "bad input",
            C.bad_input,
            "its input was not valid",
            "The data handed to this step did not have the shape or values it requires.",
            (A.fix_input, 0.75, "correct the input at its source", {}),
            (A.escalate_to_human, 0.4, "a person can correct the record", {}),
        ),
        _r(
            "bad request",
            C.bad_input,
            "the request it sent was invalid",
            "A parameter of the request was out of range or malformed; the service will refuse "
            "it every time until the request is built differently.",
            (A.fix_input, 0.75, "send a valid value for the rejected parameter", {}),
            (A.code_change, 0.5, "compute the parameter correctly", {}),
        ),
        _r(
            "missing data",
            C.missing_data,
            "a value it needed was null or missing",
            "A value the step relies on was empty; whatever produced the record left it out.",
            (A.fix_input, 0.7, "fill the missing value where the record comes from", {}),
            (A.escalate_to_human, 0.5, "a person can supply the missing value", {}),
            (A.code_change, 0.3, "handle the missing value explicitly", {}),
        ),
        _r(
            "not found",
            C.missing_data,
            "what it asked for does not exist",
            "The object, file or record it looked up is not there (deleted, never written, or "
            "a wrong key).",
            (A.fix_input, 0.65, "ask for a key that exists", {}),
            (A.escalate_to_human, 0.5, "a person can tell where the data went", {}),
            (A.fallback_tool, 0.3, "another source may hold it", {}),
        ),
        _r(
            "tool backend error",
            C.tool_error,
            "the tool's backend failed while serving it",
            "The service behind the tool accepted the call and failed internally; such errors "
            "are often transient.",
            (A.retry, 0.6, "an internal error often passes on a second call", {}),
            (A.fallback_tool, 0.5, "another tool avoids the failing backend", {}),
            (A.escalate_to_human, 0.3, "a person can check the backend", {}),
        ),
        _r(
            "transient database conflict",
            C.tool_error,
            "the database aborted it (a deadlock or conflict)",
            "Two transactions blocked each other; the database aborted one. Running it again "
            "usually succeeds.",
            (A.retry, 0.7, "a deadlock victim succeeds when run again", {}),
            (
                A.retry_with_backoff,
                0.5,
                "spread out the conflicting writers",
                {"base_delay_s": 0.2},
            ),
        ),
        _r(
            "object locked",
            C.tool_error,
            "another request held the object it needed",
            "The service refused the call while a concurrent request or process held the same "
            "object (a lock timeout); once that one finishes, the call goes through.",
            (A.retry_with_backoff, 0.7, "the lock is released shortly", {"base_delay_s": 0.5}),
            (A.retry, 0.55, "a second call usually finds the object free", {}),
            (A.code_change, 0.35, "send requests for one object one after another", {}),
        ),
        _r(
            "tool misconfigured",
            C.tool_error,
            "the tool cannot work in its environment",
            "The tool's environment refused the work (a file permission, a missing table or "
            "privilege, a command that exits with an error); retrying changes nothing.",
            (A.escalate_to_human, 0.7, "someone must fix the tool's setup or permissions", {}),
            (A.code_change, 0.5, "point the tool at something it may use", {}),
            (A.fallback_tool, 0.4, "another tool may do the job", {}),
        ),
        _r(
            "tool reported an error",
            C.tool_error,
            "the tool reported an error",
            "The tool ran and answered with an error instead of a result.",
            (A.retry, 0.5, "the tool may succeed on a second call", {}),
            (A.fallback_tool, 0.45, "another tool may do the job", {}),
            (A.escalate_to_human, 0.4, "a person can read the tool's error", {}),
        ),
        _r(
            "context length",
            C.model_error,
            "the prompt was longer than the model's context window",
            "The request sent more tokens than the model accepts.",
            (A.fallback_model, 0.7, "a model with a larger context window accepts it", {}),
            (A.fix_input, 0.6, "trim or summarise the conversation before the call", {}),
        ),
        _r(
            "content filter",
            C.model_error,
            "the model provider's content filter refused it",
            "The prompt or the answer tripped the provider's safety policy.",
            (A.fix_input, 0.7, "rephrase or remove the content that tripped the filter", {}),
            (A.fallback_model, 0.5, "another model may have another policy", {}),
            (A.escalate_to_human, 0.4, "a person decides whether the content is legitimate", {}),
        ),
        _r(
            "unparsable model output",
            C.model_error,
            "the model's answer was not in the expected form",
            "The LLM answered, but not in the format the code parses (not JSON, missing fields); "
            "sampling again often gives a valid answer.",
            (A.retry, 0.7, "another sample is often well-formed", {}),
            (A.fallback_model, 0.5, "a stronger model follows the format better", {}),
        ),
        _r(
            "answer cut off",
            C.model_error,
            "the model's answer was cut off at its token limit",
            "The model stopped at max_tokens (finish reason 'length') before the answer was "
            "complete, so what came back cannot be used.",
            (A.code_change, 0.7, "raise max_tokens or ask for a shorter answer", {}),
            (A.fallback_model, 0.5, "a model with a larger output limit", {}),
            (A.retry, 0.35, "another sample may be shorter", {}),
        ),
        _r(
            "model not found",
            C.model_error,
            "the model it asked for does not exist or is not available",
            "The model name is wrong, retired, or the account has no access to it.",
            (A.fallback_model, 0.75, "a model the account can use", {}),
            (A.escalate_to_human, 0.5, "someone must fix the model name or access", {}),
        ),
        _r(
            "model server error",
            C.model_error,
            "the model provider failed while answering",
            "The LLM API hit an internal error; these are usually transient.",
            (A.retry_with_backoff, 0.65, "provider errors clear shortly", {"base_delay_s": 1.0}),
            (A.fallback_model, 0.55, "another model or provider can answer", {}),
            (A.retry, 0.5, "a second call often succeeds", {}),
        ),
        _r(
            "logic bug",
            C.logic_bug,
            "of a bug in the code it ran",
            "The code did something impossible for the data it had (an empty list indexed, a "
            "division by zero, a name never bound); no retry fixes a deterministic bug.",
            (A.code_change, 0.8, "fix the code path that raised", {}),
            (A.escalate_to_human, 0.4, "a developer should look at the stack trace", {}),
        ),
        _r(
            "runaway recursion",
            C.logic_bug,
            "it kept calling itself without reaching a stop condition",
            "A graph or function recursed until a limit stopped it; raising the limit only "
            "delays the same failure.",
            (A.circuit_break, 0.8, "stop the loop after a bounded number of steps", {}),
            (A.code_change, 0.6, "add or fix the stop condition", {}),
        ),
        _r(
            "repeated tool calls",
            C.logic_bug,
            "the agent called the same tool with the same arguments again and again",
            "The agent does not notice that the tool's answer does not change, so it loops; "
            "each turn costs time and tokens without progress.",
            (
                A.circuit_break,
                0.8,
                "stop the loop after a few identical calls",
                {"max_identical_calls": 3},
            ),
            (A.code_change, 0.6, "make the agent use the tool's answer or stop", {}),
        ),
        _r(
            "needs a human",
            C.needs_human,
            "it needs a person's answer or approval to go on",
            "The work cannot go on until a person answers, approves or authenticates.",
            (A.escalate_to_human, 0.9, "only a person can give the answer", {}),
        ),
    )
}


def _m(rule: str, evidence: str) -> Match:
    return Match(RULES[rule], evidence)


Matcher = Callable[[Facts], Match | None]


def _search(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern, re.I)
    return lambda text: compiled.search(text) is not None


# Words, for refining a code or type and (last) on their own.
_CONTEXT = _search(
    r"context[_ ]length|maximum context|context window|prompt is too long|too many tokens in|"
    r"ContextWindowExceeded|reduce the length of the messages|input token count|"
    r"exceeds the max(imum)? number of tokens|input is too long for (the )?requested model"
)
_FILTER = _search(
    r"content[_ ]filter|content management policy|safety system|ResponsibleAIPolicy|"
    r"safety[_ ]ratings|block_?reason|finish_?reason\W{1,4}(SAFETY|PROHIBITED_CONTENT)\b|"
    r"response was blocked|blocked (by|due to|because of) (the )?safety"
)
# The model stopped at its output limit: OpenAI's finish_reason "length", Anthropic's
# stop_reason "max_tokens", Gemini's FinishReason.MAX_TOKENS.
_CUT_OFF = _search(
    r"length limit was reached|finish_?reason\W{1,4}(length|MAX_TOKENS)\b|"
    r"stop_reason\W{1,4}max_tokens\b|FinishReason\.MAX_TOKENS"
)
_MODEL_MISSING = _search(r"\bmodel\b[^\n]{0,40}\b(does not exist|not found|not available)")
_LLM_OUTPUT = _search(
    r"could not parse (the )?(LLM|model) output|Failed to parse \w+ from completion"
)
_RATE = _search(
    r"rate[ _-]?limit|too many requests|throttl|rate exceeded|resource (has been )?exhausted"
)
_QUOTA = _search(
    r"insufficient_quota|exceeded your current quota|check your plan and billing|"
    r"billing[_ ](error|hard limit)|credit balance is too low"
)
# A rate limit counted per day (Bedrock's "Too many tokens per day", Gemini's
# RequestsPerDay): it does not clear within the run.
_DAILY = _search(r"per ?day\b|\bdaily (limit|quota)")
# One request bigger than the per-minute limit (OpenAI's "Request too large ... must be
# reduced"): no wait lets it through.
_TOO_LARGE = _search(r"request too large|tokens must be reduced")
# A concurrent request holds the object (Stripe's lock_timeout, a row lock wait).
_LOCKED = _search(
    r"lock_timeout|lock wait timeout|another (API )?request[^.]{0,40} is currently accessing"
)
_OVERLOAD = _search(r"overloaded")
_CONNECT = _search(
    r"connection (was )?refused|ECONNREFUSED|actively refused|could not connect|cannot connect|"
    r"failed to establish a new connection|name or service not known|name resolution|"
    r"no route to host|network is unreachable|connection (reset|aborted)|"
    r"server closed the connection|not accepting|\bis (down|unreachable)\b|bad gateway|"
    r"service unavailable|all connection attempts failed|"
    r"upstream connect error|reset before headers|no healthy upstream"  # Envoy's own answers
)
_TIMEOUT = _search(r"timed? ?out|timeout|deadline exceeded")
_AUTH = _search(
    r"unauthori[sz]ed|invalid[_ ]api[_ ]key|incorrect api key|authentication (failed|error)|"
    r"password authentication failed|bad credentials|credentials (were )?(rejected|invalid|expired)|"
    r"access denied|permission denied for|forbidden"
)
_HUMAN = _search(
    r"input[_ ]required|waiting (for|on) (a )?(human|person|approval)|awaiting (human|approval|input)|"
    r"requires? (additional )?(user )?(action|approval|authentication)|needs? (human )?approval|"
    r"additional (user )?action is required|interaction[_ ]required|consent[_ ]required|"
    r"must use multi-factor authentication"
)
_RECURSION = _search(
    r"recursion (limit|depth)|maximum recursion|infinite loop|"
    r"called \d+ times (in a row|with the same)"
)
_NONE = _search(r"'NoneType'|\bis None\b|\bwas None\b|\b(was|is) null\b|null value|\bnull\b field")
_MISSING = _search(
    r"missing (field|key|value|data)|field required|\[type=missing|type=value_error\.missing|"
    r"\bis (missing|empty)\b|\bwas (missing|empty)\b|not found|no such|does not exist"
)
_INVALID = _search(
    r"invalid|malformed|does not match( format)?|not a valid|validation|unprocessable|"
    r"could not convert|can't decode|cannot decode|out of range|wrong format|"
    r"\bis too (long|large|big)\b|unknown string format|"
    r"\bmust be (a |an )?(positive|non-negative|one of|at least|at most|integer|string|number)\b"
)
# TLS trust: the service answered, the client refused its certificate (a setup problem).
_CERT = _search(
    r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLCertVerificationError|"
    r"self[- ]signed certificate in certificate chain"
)
_EXISTS = _search(r"already exists|duplicate")
_INTERNAL = _search(r"internal (server )?error|server had an error|unexpected error")
_LOGIC = _search(
    r"division by zero|index out of range|referenced before assignment|is not defined|"
    r"changed size during iteration|generator raised StopIteration|"
    r"cannot reuse already awaited coroutine|event loop is already running"
)
# pydantic error types about Python objects, not data: the code passed the wrong thing.
_OBJECT_TYPE = _search(r"\[type=(is_subclass_of|is_instance_of|callable_type)\b")
# JSON-RPC error codes (MCP): -32601 method not found, -32602 invalid params (also an
# unknown tool), -32603 internal error; the SDKs' -32000 connection closed, -32001 request
# timeout; MCP's -32002 resource not found.
_JSONRPC = re.compile(r"\b(?:MCP|JSON-?RPC) error:? ?(-32\d{3})\b", re.I)
_UNKNOWN_TOOL = _search(r"\b(unknown|no such) tool\b|\btool\b\W{0,2}\S+\W{0,2} not found")
_EMPTY_DATA = _search(r"time data ['\"]\s*['\"]|: ''$|\bempty\b")


def _kind(f: Facts) -> Match | None:
    if f.kind == "stuck_task":
        return _m("needs a human", "a task waited in input_required past the threshold")
    if f.kind == "loop":
        return _m(
            "repeated tool calls", "the same tool was called with the same arguments repeatedly"
        )
    if f.kind == "slow":
        return _m("slow step", "one step took most of its trace's time")
    return None


# The services' own codes (OpenAI/Anthropic error codes and types, botocore's Error.Code,
# Stripe, Google's reasons, MCP's tool_error).
_CODES: dict[str, str] = {
    **_each(
        (
            "rate_limit_exceeded rpm_rate_limit_exceeded tpm_rate_limit_exceeded rate_limit_error "
            "Throttling ThrottlingException TooManyRequestsException RequestLimitExceeded SlowDown "
            "ProvisionedThroughputExceededException rateLimitExceeded userRateLimitExceeded "
            "ratelimited"
        ),
        "rate limit",
    ),
    **_each("insufficient_quota billing_error quotaExceeded", "quota exhausted"),
    **_each(
        (
            "invalid_api_key authentication_error permission_error AccessDenied "
            "AccessDeniedException UnauthorizedOperation InvalidClientTokenId ExpiredToken "
            "ExpiredTokenException SignatureDoesNotMatch UnrecognizedClientException invalid_auth "
            "not_authed AuthFailure"
        ),
        "auth",
    ),
    "context_length_exceeded": "context length",
    "string_above_max_length": "context length",
    "content_filter": "content filter",
    "model_not_found": "model not found",
    "overloaded_error": "model provider down",
    **_each("NoSuchKey NoSuchBucket ResourceNotFoundException NoSuchEntity", "not found"),
    **_each(
        (
            "ValidationException InvalidParameterValue InvalidParameter InvalidParameterCombination "
            "integer_below_min_value integer_above_max_value invalid_value"
        ),
        "bad request",
    ),
    **_each(
        (
            "authentication_required requires_action subscription_payment_intent_requires_action "
            "payment_intent_authentication_failure"
        ),
        "needs a human",
    ),
    "tool_error": "tool reported an error",
    "lock_timeout": "object locked",
}


def _code(f: Facts) -> Match | None:
    code = f.provider_code
    if not code:
        return None
    if code in ("api_error", "server_error", "InternalError", "InternalFailure"):
        return _m("tool backend error", f"the service's error code {code!r}")  # at the LLM: _refine
    if code == "not_found_error":
        rule = "model not found" if f.where == "llm" or _MODEL_MISSING(f.text) else "not found"
        return _m(rule, f"the service's error code {code!r}")
    known = _CODES.get(code)
    return _m(known, f"the service's error code {code!r}") if known else None


_JSONRPC_CODES = {
    -32700: "bad request",
    -32600: "bad request",
    -32601: "tool misconfigured",
    -32603: "tool backend error",
    -32000: "dependency down",
    -32001: "timeout",
    -32002: "not found",
}


def _jsonrpc(f: Facts) -> Match | None:
    """The JSON-RPC error code an MCP client prints (``MCP error -32602: ...``)."""
    found = _JSONRPC.search(f.text)
    if found is None:
        return None
    code = int(found.group(1))
    if code == -32602:  # invalid params: a tool the server does not offer, or bad arguments
        rule = "tool misconfigured" if _UNKNOWN_TOOL(f.text) else "bad request"
    else:
        rule = _JSONRPC_CODES.get(code, "tool backend error")  # -32099..-32000: server errors
    return _m(rule, f"the JSON-RPC error code {code}")


_GRPC: dict[str, str] = {
    "UNAVAILABLE": "dependency down",
    "DEADLINE_EXCEEDED": "deadline",
    "RESOURCE_EXHAUSTED": "rate limit",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
    "INVALID_ARGUMENT": "bad request",
    "OUT_OF_RANGE": "bad request",
    "FAILED_PRECONDITION": "bad input",
    "NOT_FOUND": "not found",
    "ABORTED": "transient database conflict",
    "INTERNAL": "tool backend error",
    "DATA_LOSS": "tool backend error",
    "UNKNOWN": "tool backend error",
    "UNIMPLEMENTED": "logic bug",
    "CANCELLED": "timeout",
}


def _grpc(f: Facts) -> Match | None:
    if not f.grpc_code or f.grpc_code not in _GRPC:
        return None
    return _m(_GRPC[f.grpc_code], f"the gRPC status {f.grpc_code}")


_SQL_CLASSES = {  # SQLSTATE class (first two characters) -> rule
    "08": "dependency down",
    "28": "auth",
    "22": "bad input",
    "40": "transient database conflict",
    "53": "dependency down",
    "42": "tool misconfigured",
    "XX": "tool backend error",
}
_SQL_STATES = {
    "57014": "deadline",  # query_canceled (statement timeout)
    "57P01": "dependency down",  # admin_shutdown
    "57P03": "dependency down",  # cannot_connect_now
    "23502": "missing data",  # not_null_violation
    "23505": "bad input",  # unique_violation
    "23503": "missing data",  # foreign_key_violation
    "ORA-00942": "tool misconfigured",  # table or view does not exist
    "ORA-01017": "auth",
    "ORA-12541": "dependency down",
    "ORA-12514": "dependency down",
    "ORA-12170": "timeout",
    "ORA-01013": "deadline",
    "ORA-00001": "bad input",
    "ORA-01400": "missing data",
    "ORA-00060": "transient database conflict",
}


def _sql(f: Facts) -> Match | None:
    state = f.sql_state
    if not state:
        return None
    rule = _SQL_STATES.get(state) or _SQL_CLASSES.get(state[:2])
    return _m(rule, f"the database's code {state}") if rule else None


_ERRNO: dict[int, str] = {
    **dict.fromkeys(
        (111, 61, 10061, 104, 54, 10054, 32, 113, 101, 65, -2, -3, -5, 11001), "dependency down"
    ),
    **dict.fromkeys((110, 60, 10060), "timeout"),
    2: "not found",
    20: "not found",
    13: "tool misconfigured",
    28: "tool misconfigured",
    30: "tool misconfigured",
}


def _errno(f: Facts) -> Match | None:
    if f.errno is None or f.errno not in _ERRNO:
        return None
    return _m(_ERRNO[f.errno], f"errno {f.errno}")


def _llm_request_rule(f: Facts) -> str | None:
    """For a rejected LLM request (400, BadRequestError): which kind of rejection it was."""
    if _CONTEXT(f.text):
        return "context length"
    if _FILTER(f.text):
        return "content filter"
    if _MODEL_MISSING(f.text):
        return "model not found"
    return None


def _server_error(f: Facts, overloaded: bool = False) -> str:
    """A server-side failure: the service down (overloaded, or a proxy that could not reach
    it) or failing inside."""
    down = overloaded or _OVERLOAD(f.text) or _CONNECT(f.text)
    return "dependency down" if down else "tool backend error"


def _http(f: Facts) -> Match | None:
    code = f.status_code
    if code is None:
        return None
    evidence = f"the HTTP status {code}"
    if code == 429:
        return _m("rate limit", evidence)  # which kind: _limited
    if code in (401, 407):
        return _m("auth", evidence)
    if code == 403:
        return _m("rate limit" if _RATE(f.text) else "auth", evidence)
    if code == 404:
        model = f.where == "llm" or _MODEL_MISSING(f.text)
        return _m("model not found" if model else "not found", evidence)
    if code in (408, 504, 524):  # 524: Cloudflare's "a timeout occurred" (the origin was slow)
        return _m("timeout", evidence)
    if code in (400, 413, 422):
        return _m(_llm_request_rule(f) or "bad request", evidence)
    if code == 500:
        return _m(_server_error(f), evidence)
    if code in (502, 503, 529) or code >= 520:
        return _m("dependency down", evidence)
    if code >= 500:
        return _m("tool backend error", evidence)
    if code == 409:  # Conflict: a concurrent edit, or (like a unique violation) a duplicate
        return _m("bad request" if _EXISTS(f.text) else "transient database conflict", evidence)
    return None


# Exception types by their name (any module), then by module family.
_TYPE_NAMES: dict[str, str] = {
    **_each(
        (
            "TimeoutError timeout ReadTimeout ConnectTimeout ReadTimeoutError ConnectTimeoutError "
            "TimeoutException ReadTimeoutException APITimeoutError Timeout ServerTimeoutError "
            "CancelledError"
        ),
        "timeout",
    ),
    **_each("QueryCanceled QueryCanceledError", "deadline"),
    **_each(
        (
            "ConnectionRefusedError ConnectionResetError ConnectionAbortedError BrokenPipeError "
            "ConnectError NewConnectionError ClientConnectorError ClientOSError "
            "ServerDisconnectedError APIConnectionError EndpointConnectionError gaierror "
            "NoBrokersAvailable ServerSelectionTimeoutError AutoReconnect URLError RemoteDisconnected"
        ),
        "dependency down",
    ),
    **_each(
        "AuthenticationError PermissionDeniedError NoCredentialsError Unauthorized",
        "auth",
    ),
    **_each("RateLimitError RateLimitExceededException ResourceExhausted", "rate limit"),
    **_each("OutputParserException", "unparsable model output"),
    "LengthFinishReasonError": "answer cut off",
    "ContentFilterFinishReasonError": "content filter",
    "ContextWindowExceededError": "context length",
    "ToolException": "tool reported an error",
    "GraphRecursionError": "runaway recursion",
    "RecursionError": "runaway recursion",
    **_each("GraphInterrupt InteractionRequiredAuthError MsalUiRequiredException", "needs a human"),
    "CalledProcessError": "tool misconfigured",
    **_each("DeadlockDetected SerializationFailure", "transient database conflict"),
    **_each("UndefinedTable UndefinedColumn InsufficientPrivilege", "tool misconfigured"),
    **_each(
        "NumericValueOutOfRange InvalidTextRepresentation DataError UniqueViolation",
        "bad input",
    ),
    "NotNullViolation": "missing data",
    **_each("UnicodeDecodeError UnicodeEncodeError UnicodeError", "bad input"),
    **_each("ParserError ScannerError", "bad input"),  # dateutil, pandas; YAML
    "KeyError": "missing data",
    **_each("FileNotFoundError NotADirectoryError NoSuchKey", "not found"),
    "PermissionError": "tool misconfigured",
    **_each(
        (
            "ZeroDivisionError IndexError NameError UnboundLocalError AssertionError "
            "NotImplementedError ImportError ModuleNotFoundError "
            "InvalidUpdateError PydanticUserError PydanticSchemaGenerationError"
        ),
        "logic bug",
    ),
}
_LLM_MODULES = (
    "openai",
    "anthropic",
    "litellm",
    "google.generativeai",
    "google.genai",
    "mistralai",
    "cohere",
)


def _type(f: Facts) -> Match | None:
    # Ruby, C++ and PHP spell the qualified name Stripe::RateLimitError, Aws\\S3\\S3Exception
    name, module = re.split(r"::|\\", f.type_name)[-1], f.module
    if not name:
        return None
    evidence = f"the exception type {f.error_type}"
    llm_lib = module.startswith(_LLM_MODULES) or f.where == "llm"
    if name in ("BadRequestError", "InvalidRequestError") and llm_lib:
        return _m(_llm_request_rule(f) or "bad request", evidence)
    if name in ("NotFoundError",) and llm_lib:
        return _m("model not found", evidence)
    if name in ("InternalServerError", "APIError", "APIStatusError", "ServiceUnavailableError"):
        return _m(_server_error(f, name == "ServiceUnavailableError"), evidence)
    if name == "JSONDecodeError":
        if f.where == "llm":
            return _m("unparsable model output", evidence)
        return _m("tool backend error" if f.where == "tool" else "bad input", evidence)
    if name == "ValidationError":
        if _OBJECT_TYPE(f.text):
            return _m("logic bug", evidence)
        if f.where == "llm":
            return _m("unparsable model output", evidence)
        return _m("missing data" if _MISSING(f.text) else "bad input", evidence)
    if name in ("AttributeError", "TypeError"):
        return _m("missing data" if _NONE(f.text) else "logic bug", evidence)
    if name == "ValueError":
        if _EMPTY_DATA(f.message):
            return _m("missing data", evidence)
        return _m("bad input", evidence) if _INVALID(f.text) or "time data" in f.text else None
    if name == "OperationalError" or name.endswith("DatabaseError"):
        return _db_words(f, evidence)
    if name == "CardError":
        return _m("needs a human" if _HUMAN(f.text) else "bad input", evidence)
    rule = _TYPE_NAMES.get(name)
    if rule == "tool misconfigured" and name == "PermissionError" and _AUTH(f.text):
        rule = "auth"
    if rule is None and name.endswith(("ConnectionError", "ConnectionClosed")):
        rule = "dependency down"
    if rule is None and name.endswith("Timeout") and name != "ServerSelectionTimeoutError":
        rule = "timeout"
    return _m(rule, evidence) if rule else None


def _db_words(f: Facts, evidence: str) -> Match | None:
    """A driver's catch-all error (OperationalError, DatabaseError): read what it says."""
    if _AUTH(f.text):
        return _m("auth", evidence)
    if _TIMEOUT(f.text):
        return _m("deadline" if "statement" in f.text else "timeout", evidence)
    if _CONNECT(f.text):
        return _m("dependency down", evidence)
    return _m("tool backend error", evidence)


# Unambiguous phrases: decisive even when the type is generic.
_STRONG: tuple[tuple[Callable[[str], bool], str], ...] = (
    (_LLM_OUTPUT, "unparsable model output"),
    (_CUT_OFF, "answer cut off"),
    (_CONTEXT, "context length"),
    (_FILTER, "content filter"),
    (_RECURSION, "runaway recursion"),
    (_HUMAN, "needs a human"),
    (_CERT, "tool misconfigured"),
)
# Last resort: the message's words alone (a log sentence, an exception of a generic type).
_WORDS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (_LOCKED, "object locked"),
    (_QUOTA, "quota exhausted"),
    (_RATE, "rate limit"),
    (_CONNECT, "dependency down"),
    (_TIMEOUT, "timeout"),
    (_AUTH, "auth"),
    (_NONE, "missing data"),
    (_MISSING, "missing data"),
    (_LOGIC, "logic bug"),
    (_INVALID, "bad input"),
    (_INTERNAL, "tool backend error"),
)


def _strong_words(f: Facts) -> Match | None:
    # A tool's own length limit ("prompt is too long" from a text encoder) is the tool's
    # input, not the model's context window: the model's words count at the model.
    at_model = f.where != "tool" or f.module.startswith(_LLM_MODULES)
    for test, rule in _STRONG:
        if rule in _MODEL_RULES and not at_model:
            continue
        if test(f.text):
            return _m(rule, "the message's own words")
    return None


_MODEL_RULES = frozenset({"answer cut off", "context length", "content filter"})


def _words(f: Facts) -> Match | None:
    for test, rule in _WORDS:
        if test(f.text):
            return _m(rule, "the message's words")
    return None


MATCHERS: tuple[Matcher, ...] = (
    _kind,
    _code,
    _jsonrpc,
    _grpc,
    _sql,
    _http,
    _strong_words,
    _errno,
    _type,
    _words,
)


def _limited(f: Facts, found: Match) -> Match:
    """Which kind of rate limit: a lock held by another request (Stripe sends it as a 429),
    one request over the limit, a daily quota, or one to wait out."""
    for test, rule in (
        (_LOCKED, "object locked"),
        (_TOO_LARGE, "request over the rate limit"),
        (_QUOTA, "quota exhausted"),
        (_DAILY, "quota exhausted"),
    ):
        if test(f.text):
            return _m(rule, f"{found.evidence} and the message's words")
    return found


# A service failing or down at the LLM (where=llm, or an LLM client's exception) is the
# model provider: a fallback model is the way around it, not another tool.
_AT_LLM = {"tool backend error": "model server error", "dependency down": "model provider down"}


def _refine(f: Facts, found: Match) -> Match:
    name = found.rule.name
    if name == "rate limit":
        return _limited(f, found)
    if name in _AT_LLM and (f.where == "llm" or f.module.startswith(_LLM_MODULES)):
        return _m(_AT_LLM[name], found.evidence)
    return found


def classify(facts: Facts) -> Match | None:
    """The first matcher's answer, strongest evidence first; ``None`` when nothing knows."""
    for matcher in MATCHERS:
        found = matcher(facts)
        if found is not None:
            return _refine(facts, found)
    return None
