"""Map the attributes of any convention onto the store's normalised columns.

A span may arrive in the OTel GenAI conventions (current or deprecated forms), OpenInference,
OpenLLMetry (Traceloop) or the MCP SDK's own shape; whatever it is, a query over
``agent_name``, ``operation``, ``model`` or ``input_tokens`` sees the same columns. Raw
attributes are never changed: this only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from semtrace import pricing
from semtrace import semconv as sc

__all__ = ["Normalised", "normalise"]


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


def _str(attrs: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def _int(attrs: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def _float(attrs: Mapping[str, Any], key: str) -> float | None:
    value = attrs.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _operation(attrs: Mapping[str, Any]) -> str | None:
    op = _str(attrs, sc.GEN_AI_OPERATION_NAME)
    if op:
        return op
    oi_kind = _str(attrs, sc.OI_SPAN_KIND)
    if oi_kind:
        return _OI_KIND_TO_OPERATION.get(oi_kind.upper(), oi_kind.lower())
    tl_kind = _str(attrs, sc.TRACELOOP_SPAN_KIND)
    if tl_kind:
        return _TRACELOOP_KIND_TO_OPERATION.get(tl_kind.lower(), tl_kind.lower())
    req_type = _str(attrs, _TRACELOOP_REQUEST_TYPE)
    if req_type:
        return _TRACELOOP_REQUEST_TYPE_TO_OPERATION.get(req_type.lower(), req_type.lower())
    method = _str(attrs, sc.MCP_METHOD_NAME)
    if method:
        return sc.OP_EXECUTE_TOOL if method == "tools/call" else method
    return _str(attrs, sc.MESSAGING_OPERATION_TYPE, sc.MESSAGING_OPERATION_NAME)


def normalise(
    attributes: Mapping[str, Any],
    *,
    exception_type: str | None = None,
    status_code: str = "UNSET",
    name: str | None = None,
) -> Normalised:
    """The normalised columns for one span's attributes (``name``: the span's, for MCP
    spans named ``tools/call {tool}`` that carry no tool attribute)."""
    a = attributes
    operation = _operation(a)
    oi_kind = (_str(a, sc.OI_SPAN_KIND) or "").upper()
    tl_kind = (_str(a, sc.TRACELOOP_SPAN_KIND) or "").lower()

    agent = _str(a, sc.GEN_AI_AGENT_NAME, sc.OI_AGENT_NAME)
    if agent is None and oi_kind == "AGENT":
        agent = _str(a, sc.OI_GRAPH_NODE_NAME)
    if agent is None and tl_kind == "agent":
        agent = _str(a, sc.TRACELOOP_ENTITY_NAME)
    if agent is None:
        agent = _str(a, sc.SEMTRACE_AGENT_NAME)

    tool = _str(a, sc.GEN_AI_TOOL_NAME, sc.OI_TOOL_NAME)
    if tool is None and tl_kind == "tool":
        tool = _str(a, sc.TRACELOOP_ENTITY_NAME)
    if tool is None and name and a.get(sc.MCP_METHOD_NAME) == "tools/call":
        tool = name.removeprefix("tools/call").strip() or None

    model = _str(a, sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_REQUEST_MODEL, sc.OI_LLM_MODEL_NAME)
    provider = _str(
        a, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM, sc.OI_LLM_SYSTEM, sc.OI_LLM_PROVIDER
    )
    input_tokens = _int(
        a,
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_PROMPT_TOKENS,
        sc.OI_TOKEN_PROMPT,
        sc.LLM_USAGE_PROMPT_TOKENS,
    )
    output_tokens = _int(
        a,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_COMPLETION_TOKENS,
        sc.OI_TOKEN_COMPLETION,
        sc.LLM_USAGE_COMPLETION_TOKENS,
    )
    cost = _float(a, sc.SEMTRACE_COST_USD)
    if cost is None:
        cost = _float(a, sc.OI_COST_TOTAL)
    if cost is None:
        cost = pricing.cost_usd(model, input_tokens, output_tokens)

    session = _str(
        a,
        sc.GEN_AI_CONVERSATION_ID,
        sc.OI_SESSION_ID,
        sc.SEMTRACE_SESSION_ID,
        sc.TRACELOOP_ASSOCIATION_SESSION,
        sc.MCP_SESSION_ID,
    )
    task = _str(a, sc.MCP_TASK_ID)
    error_type = _str(a, sc.ERROR_TYPE)
    if error_type is None and status_code == "ERROR":
        error_type = exception_type
    return Normalised(
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
    )
