"""Map the attributes of any convention onto the store's normalised columns.

A span may arrive in the OTel GenAI conventions (current or deprecated forms), OpenInference,
OpenLLMetry (Traceloop) or the MCP SDK's own shape; whatever it is, a query over
``agent_name``, ``operation``, ``model`` or ``input_tokens`` sees the same columns. Raw
attributes are never changed: this only reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from semtrace import pricing
from semtrace import semconv as sc

__all__ = [
    "MAX_STATUS_CHARS",
    "TRACEBACK_START",
    "Normalised",
    "normalise",
    "normalise_row",
    "readable_status",
]


class Normalised(NamedTuple):
    agent_name: str | None
    operation: str | None
    tool_name: str | None
    model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    session_id: str | None
    task_id: str | None
    error_type: str | None
    input: str | None = None  # what the span was given (arguments, prompt), as text or JSON
    output: str | None = None  # what it gave back (result, response)


_OI_KIND_TO_OPERATION = {
    "LLM": sc.OP_CHAT,
    "TOOL": sc.OP_EXECUTE_TOOL,
    "AGENT": sc.OP_INVOKE_AGENT,
    "RETRIEVER": sc.OP_RETRIEVAL,
    "EMBEDDING": sc.OP_EMBEDDINGS,
    "CHAIN": sc.OP_INVOKE_WORKFLOW,
    "RERANKER": "rerank",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluate",
    "PROMPT": "prompt",
}

_TRACELOOP_KIND_TO_OPERATION = {
    "workflow": sc.OP_INVOKE_WORKFLOW,
    "task": "task",
    "agent": sc.OP_INVOKE_AGENT,
    "tool": sc.OP_EXECUTE_TOOL,
}

_TRACELOOP_REQUEST_TYPE = "llm.request.type"
_TRACELOOP_REQUEST_TYPE_TO_OPERATION = {
    "chat": sc.OP_CHAT,
    "completion": sc.OP_TEXT_COMPLETION,
    "embedding": sc.OP_EMBEDDINGS,
}


def _str(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value if type(value) is str else str(value)
    return None


def _int(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if type(value) is int:
            return value
        if value is None or isinstance(value, bool):
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def _float(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = attrs.get(key)
        if value is None or isinstance(value, bool):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None


# Every key chain normalise reads, first key first. A span carries few of these keys, so the
# chains are filtered once per set of present keys (see _plan) and absent keys cost nothing.
_CHAINS: tuple[tuple[str, ...], ...] = (
    (sc.GEN_AI_OPERATION_NAME,),  # 0 operation
    (sc.OI_SPAN_KIND,),  # 1
    (sc.TRACELOOP_SPAN_KIND,),  # 2
    (_TRACELOOP_REQUEST_TYPE,),  # 3
    (sc.MCP_METHOD_NAME,),  # 4
    (sc.MESSAGING_OPERATION_TYPE, sc.MESSAGING_OPERATION_NAME),  # 5
    (sc.GEN_AI_AGENT_NAME, sc.OI_AGENT_NAME),  # 6 agent
    (sc.OI_GRAPH_NODE_NAME,),  # 7
    (sc.TRACELOOP_ENTITY_NAME,),  # 8
    (sc.SEMTRACE_AGENT_NAME,),  # 9
    (sc.GEN_AI_TOOL_NAME, sc.OI_TOOL_NAME),  # 10 tool
    (sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_REQUEST_MODEL, sc.OI_LLM_MODEL_NAME),  # 11 model
    (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM, sc.OI_LLM_SYSTEM, sc.OI_LLM_PROVIDER),  # 12
    (
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_PROMPT_TOKENS,
        sc.OI_TOKEN_PROMPT,
        sc.LLM_USAGE_PROMPT_TOKENS,
    ),  # 13
    (
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_COMPLETION_TOKENS,
        sc.OI_TOKEN_COMPLETION,
        sc.LLM_USAGE_COMPLETION_TOKENS,
    ),  # 14
    (sc.SEMTRACE_COST_USD,),  # 15
    (sc.OI_COST_TOTAL,),  # 16
    (
        sc.GEN_AI_CONVERSATION_ID,
        sc.OI_SESSION_ID,
        sc.SEMTRACE_SESSION_ID,
        sc.TRACELOOP_ASSOCIATION_SESSION,
        sc.MCP_SESSION_ID,
    ),  # 17 session
    (sc.MCP_TASK_ID,),  # 18
    (sc.ERROR_TYPE,),  # 19
    (sc.PYDANTIC_AI_AGENT_NAME,),  # 20 agent, legacy key
    (sc.OI_METADATA,),  # 21 LangGraph node or graph
    (
        sc.GEN_AI_INPUT_MESSAGES,
        sc.OI_INPUT_VALUE,
        sc.GEN_AI_TOOL_CALL_ARGUMENTS,
        sc.PYDANTIC_AI_TOOL_ARGUMENTS,
        sc.TRACELOOP_ENTITY_INPUT,
        sc.SEMTRACE_INPUT,
        sc.PYDANTIC_AI_ALL_MESSAGES,
    ),  # 22 input
    (
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.OI_OUTPUT_VALUE,
        sc.GEN_AI_TOOL_CALL_RESULT,
        sc.PYDANTIC_AI_TOOL_RESPONSE,
        sc.PYDANTIC_AI_FINAL_RESULT,
        sc.TRACELOOP_ENTITY_OUTPUT,
        sc.SEMTRACE_OUTPUT,
    ),  # 23 output
    (sc.OI_GRAPH_NODE_ID,),  # 24 agent of an OpenInference AGENT span (CrewAI, AutoGen)
    (sc.CREWAI_AGENT_ROLE,),  # 25 agent (OpenLLMetry's CrewAI before gen_ai.agent.name)
)
# Normalised(...) runs a Python-level __new__; building the tuple directly is 3x cheaper.
_new = tuple.__new__
_NOTHING = (None,) * 10
_NO_IO = (None, None)
_KEYS = frozenset(k for chain in _CHAINS for k in chain)
_Plan = tuple[tuple[str, ...], ...]
_plans: dict[frozenset[str], _Plan] = {}


def _plan(present: frozenset[str]) -> _Plan:
    """The chains restricted to the keys a span carries (remembered per key set)."""
    plan = _plans.get(present)
    if plan is None:
        plan = tuple(tuple(k for k in chain if k in present) for chain in _CHAINS)
        if len(_plans) < 4_096:
            _plans[present] = plan
    return plan


def _operation(attrs: Mapping[str, Any], plan: _Plan) -> str | None:
    op = _str(attrs, plan[0]) if plan[0] else None
    if op:
        return op
    oi_kind = _str(attrs, plan[1]) if plan[1] else None
    if oi_kind:
        return _OI_KIND_TO_OPERATION.get(oi_kind.upper(), oi_kind.lower())
    tl_kind = _str(attrs, plan[2]) if plan[2] else None
    if tl_kind:
        return _TRACELOOP_KIND_TO_OPERATION.get(tl_kind.lower(), tl_kind.lower())
    req_type = _str(attrs, plan[3]) if plan[3] else None
    if req_type:
        return _TRACELOOP_REQUEST_TYPE_TO_OPERATION.get(req_type.lower(), req_type.lower())
    method = _str(attrs, plan[4]) if plan[4] else None
    if method:
        return sc.OP_EXECUTE_TOOL if method == "tools/call" else method
    return _str(attrs, plan[5]) if plan[5] else None


def normalise(
    attributes: Mapping[str, Any],
    *,
    exception_type: str | None = None,
    status_code: str = "UNSET",
    name: str | None = None,
) -> Normalised:
    """The normalised columns for one span's attributes (``name``: the span's, for MCP
    spans named ``tools/call {tool}`` that carry no tool attribute)."""
    return normalise_row(attributes, exception_type, status_code, name)


def normalise_row(
    a: Mapping[str, Any], exception_type: str | None, status_code: str, name: str | None
) -> Normalised:
    """:func:`normalise` with positional arguments (the store's per-span hot path)."""
    present = _KEYS.intersection(a)
    if not present:  # no convention's key at all (an HTTP span, say): nothing to read
        return _new(
            Normalised,
            (*_NOTHING, exception_type if status_code == "ERROR" else None, *_NO_IO),
        )
    (
        _,
        oi_kind_k,
        tl_kind_k,
        _,
        _,
        _,
        agent_k,
        oi_node_k,
        tl_entity_k,
        semtrace_agent_k,
        tool_k,
        model_k,
        provider_k,
        input_k,
        output_k,
        cost_k,
        oi_cost_k,
        session_k,
        task_k,
        error_k,
        legacy_agent_k,
        metadata_k,
        in_text_k,
        out_text_k,
        oi_node_id_k,
        crew_role_k,
    ) = plan = _plans.get(present) or _plan(present)
    op_k = plan[0]
    # The usual span names its operation: the fallbacks only when it does not.
    operation = (_str(a, op_k) if op_k else None) or _operation(a, plan)
    oi_kind = (_str(a, oi_kind_k) or "").upper() if oi_kind_k else ""
    tl_kind = (_str(a, tl_kind_k) or "").lower() if tl_kind_k else ""

    agent = _str(a, agent_k) if agent_k else None
    if agent is None and legacy_agent_k and operation == sc.OP_INVOKE_AGENT:
        agent = _str(a, legacy_agent_k)
    if agent is None and oi_kind == "AGENT" and oi_node_k:
        agent = _str(a, oi_node_k)
    if agent is None and oi_kind == "AGENT" and oi_node_id_k:
        agent = _named(_str(a, oi_node_id_k))
    if agent is None and tl_kind == "agent" and tl_entity_k:
        agent = _str(a, tl_entity_k)
    if agent is None and crew_role_k:
        agent = _str(a, crew_role_k)
    graph = None
    if agent is None and metadata_k:
        agent, graph = _langgraph(a.get(sc.OI_METADATA), name)
    if agent is None and semtrace_agent_k:
        agent = _str(a, semtrace_agent_k)
    if agent is None:
        agent = graph
    if agent is None and name and (oi_kind == "AGENT" or tl_kind == "agent"):
        agent = _agent_of_entry_point(name)

    tool = _str(a, tool_k) if tool_k else None
    if tool is None and tl_kind == "tool" and tl_entity_k:
        tool = _str(a, tl_entity_k)
    if tool is None and name and a.get(sc.MCP_METHOD_NAME) == "tools/call":
        tool = name.removeprefix("tools/call").strip() or None

    model = _str(a, model_k) if model_k else None
    provider = _str(a, provider_k) if provider_k else None
    if oi_kind and oi_kind not in _OI_USAGE_KINDS:
        # OpenInference counts tokens on LLM spans; an AGENT or CHAIN span that carries them
        # too (smolagents' run span: the run's totals) repeats its model calls' counts.
        input_k = tuple(k for k in input_k if k != sc.OI_TOKEN_PROMPT)
        output_k = tuple(k for k in output_k if k != sc.OI_TOKEN_COMPLETION)
    input_tokens = _int(a, input_k) if input_k else None
    output_tokens = _int(a, output_k) if output_k else None
    cost = _float(a, cost_k) if cost_k else None
    if cost is None and oi_cost_k:
        cost = _float(a, oi_cost_k)
    if cost is None:
        cost = pricing.cost_usd(model, input_tokens, output_tokens)

    session = _str(a, session_k) if session_k else None
    task = _str(a, task_k) if task_k else None
    error_type = _str(a, error_k) if error_k else None
    if error_type is None and status_code == "ERROR":
        error_type = exception_type
    return _new(
        Normalised,
        (
            agent,
            operation,
            tool,
            model,
            provider,
            input_tokens,
            output_tokens,
            cost,
            session,
            task,
            error_type,
            _text(a, in_text_k) if in_text_k else None,
            _text(a, out_text_k) if out_text_k else None,
        ),
    )


def _text(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first present value of ``keys`` as text (a structured value as JSON)."""
    for key in keys:
        value = attrs.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str):  # str subclasses too (smolagents' AgentText)
            return str(value)
        try:
            return orjson.dumps(value, default=str).decode()
        except TypeError:
            return str(value)
    return None


# The OpenInference span kinds whose token counts are their own (not a sum of their children's).
_OI_USAGE_KINDS = frozenset({"LLM", "EMBEDDING"})

# Entry points an agent span may be named after, ``{agent}.{method}``, when no attribute names
# the agent: smolagents' run span (``procurement.run``), AutoGen's agents that are not an
# AssistantAgent (``triage.on_messages_stream``, no graph.node.id), OpenLLMetry's CrewAI agent
# span before it set gen_ai.agent.name (``{role}.agent``, a Traceloop agent span).
_ENTRY_METHODS = frozenset(
    {
        "run",
        "arun",
        "invoke",
        "ainvoke",
        "kickoff",
        "kickoff_async",
        "__call__",
        "chat",
        "achat",
        "on_messages",
        "on_messages_stream",
        "agent",
    }
)


def _agent_of_entry_point(name: str) -> str | None:
    """An AGENT span's agent when no attribute names it and the span is named after the
    agent's entry point (``procurement.run``); None for other names (the OpenAI Agents SDK's
    ``Agent workflow`` is the trace's name, not an agent's)."""
    head, dot, method = name.rpartition(".")
    return head if dot and head and method in _ENTRY_METHODS else None


def _named(node_id: str | None) -> str | None:
    """An OpenInference AGENT span's ``graph.node.id`` as its agent's name: CrewAI's role,
    AutoGen's agent name; None for a generated id (Agno's 16 hex digits, a UUID), which
    names no agent."""
    if node_id is None or _GENERATED_ID.fullmatch(node_id):
        return None
    return node_id


_GENERATED_ID = re.compile(r"[0-9a-fA-F]{16,}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _langgraph(metadata: Any, name: str | None) -> tuple[str | None, str | None]:
    """(node, graph) from OpenInference's ``metadata`` of a LangGraph run: every span inside
    a node carries the node's name (the node is the agent); the graph's own span is marked
    ``ls_integration: langgraph`` with no node, and its name is the graph's."""
    if type(metadata) is not str or "langgraph" not in metadata:
        return None, None
    try:
        meta = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(meta, dict):
        return None, None
    node = meta.get(sc.LANGGRAPH_NODE)
    if node:
        return str(node), None
    if meta.get("ls_integration") == "langgraph" and name:
        return None, name
    return None, None


# A status message longer than this keeps its start and a marker (the store cuts it).
MAX_STATUS_CHARS = 300
TRACEBACK_START = "Traceback (most recent call last):"


def readable_status(message: str | None) -> tuple[str | None, str | None]:
    """(the first line of a status message; the traceback or further lines it
    carried, or None). A convention that put a whole traceback in the status (LangChain's
    ``ValueError('...')Traceback (most recent call last): ...``) keeps the error's own line;
    the rest belongs in the exception event."""
    if not message:
        return message, None
    cut = message.find(TRACEBACK_START)
    head = message[:cut] if cut >= 0 else message
    rest = message[cut:] if cut >= 0 else None
    lines = [line for line in head.splitlines() if line.strip()]
    if not lines and rest is not None:
        # Only a traceback: its last line names the exception ("ValueError: ...").
        lines = [line for line in rest.splitlines() if line.strip()][-1:]
    first = lines[0].strip() if lines else ""
    if len(lines) > 1 and rest is None:
        rest = message
    return first, rest
