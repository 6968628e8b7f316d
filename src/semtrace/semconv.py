"""Attribute keys semtrace reads and writes, each defined once.

OpenTelemetry GenAI, MCP and messaging conventions, OpenInference and OpenLLMetry keys that
normalisation maps into the store's columns, plus semtrace's own ``semtrace.*`` keys.
"""

from __future__ import annotations

# --- OpenTelemetry GenAI -------------------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated form of provider.name
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"  # deprecated
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"  # deprecated
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"

OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_GENERATE_CONTENT = "generate_content"
OP_EMBEDDINGS = "embeddings"
OP_RETRIEVAL = "retrieval"
OP_INVOKE_AGENT = "invoke_agent"
OP_CREATE_AGENT = "create_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_WORKFLOW = "invoke_workflow"
LLM_OPERATIONS = (OP_CHAT, OP_TEXT_COMPLETION, OP_GENERATE_CONTENT, OP_EMBEDDINGS)
# The same list as an SQL tuple, for ``operation IN ...`` in views and queries.
LLM_OPERATIONS_SQL = "(" + ", ".join(f"'{op}'" for op in LLM_OPERATIONS) + ")"

# --- MCP ------------------------------------------------------------------------------------
MCP_METHOD_NAME = "mcp.method.name"
MCP_SESSION_ID = "mcp.session.id"
MCP_PROTOCOL_VERSION = "mcp.protocol.version"
MCP_TASK_ID = "mcp.task.id"  # no semconv key exists for a task id (specs.md section 2)
MCP_TASK_STATUS = "mcp.task.status"
MCP_TASK_STATUS_MESSAGE = "mcp.task.status_message"
JSONRPC_REQUEST_ID = "jsonrpc.request.id"
RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code"

# --- Messaging ------------------------------------------------------------------------------
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_DESTINATION_NAME = "messaging.destination.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_CONVERSATION_ID = "messaging.message.conversation_id"
MESSAGING_BATCH_MESSAGE_COUNT = "messaging.batch.message_count"

# --- OpenInference --------------------------------------------------------------------------
OI_SPAN_KIND = "openinference.span.kind"
OI_LLM_MODEL_NAME = "llm.model_name"
OI_LLM_SYSTEM = "llm.system"
OI_LLM_PROVIDER = "llm.provider"
OI_TOKEN_PROMPT = "llm.token_count.prompt"
OI_TOKEN_COMPLETION = "llm.token_count.completion"
OI_TOOL_NAME = "tool.name"
OI_SESSION_ID = "session.id"
OI_AGENT_NAME = "agent.name"
OI_GRAPH_NODE_NAME = "graph.node.name"
OI_GRAPH_NODE_ID = "graph.node.id"  # on AGENT spans: the CrewAI role, the AutoGen agent name
OI_COST_TOTAL = "llm.cost.total"
OI_INPUT_VALUE = "input.value"
OI_OUTPUT_VALUE = "output.value"
OI_METADATA = "metadata"  # JSON text; LangGraph puts langgraph_node / ls_integration there
LANGGRAPH_NODE = "langgraph_node"  # key inside OpenInference's metadata

# --- pydantic-ai (native OTel instrumentation, older attribute names) ------------------------
PYDANTIC_AI_AGENT_NAME = "agent_name"  # before gen_ai.agent.name
PYDANTIC_AI_TOOL_ARGUMENTS = "tool_arguments"  # before gen_ai.tool.call.arguments
PYDANTIC_AI_TOOL_RESPONSE = "tool_response"  # before gen_ai.tool.call.result
PYDANTIC_AI_FINAL_RESULT = "final_result"
PYDANTIC_AI_ALL_MESSAGES = "pydantic_ai.all_messages"

# --- OpenLLMetry (Traceloop) ----------------------------------------------------------------
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_WORKFLOW_NAME = "traceloop.workflow.name"
TRACELOOP_ENTITY_INPUT = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT = "traceloop.entity.output"
TRACELOOP_ASSOCIATION_SESSION = "traceloop.association.properties.session_id"
LLM_USAGE_PROMPT_TOKENS = "llm.usage.prompt_tokens"
LLM_USAGE_COMPLETION_TOKENS = "llm.usage.completion_tokens"

# --- CrewAI (OpenLLMetry's instrumentation copies the Agent's fields as crewai.agent.*) ----------
CREWAI_AGENT_ROLE = "crewai.agent.role"

# --- semtrace's own -------------------------------------------------------------------------
SEMTRACE_AGENT_NAME = "semtrace.agent.name"  # the agent a span runs inside (inherited)
SEMTRACE_COST_USD = "semtrace.cost_usd"
SEMTRACE_SESSION_ID = "semtrace.session.id"
SEMTRACE_INPUT = "semtrace.input"
SEMTRACE_OUTPUT = "semtrace.output"
SEMTRACE_ATTEMPT = "semtrace.attempt"
SEMTRACE_STEP_NAME = "semtrace.step.name"
SEMTRACE_STEP_PURPOSE = "semtrace.step.purpose"
SEMTRACE_SENTENCE = "semtrace.sentence"
SEMTRACE_HEAL = "semtrace.heal"
SERVICE_NAME = "service.name"

# --- Exceptions (OTel) ----------------------------------------------------------------------
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"

# --- semtrace log facts carried as OTLP log attributes (collector client and decoder) ----
SEMTRACE_LOG_ID = "semtrace.log.id"
SEMTRACE_LOG_TEMPLATE = "semtrace.log.template"
SEMTRACE_LOG_ACTION = "semtrace.log.action"
SEMTRACE_LOG_CAUSE = "semtrace.log.cause"
SEMTRACE_LOG_IMPACT = "semtrace.log.impact"

# --- async hand-offs: messaging extras, long-running tasks (tracer/propagation, tracer/tasks)
MESSAGING_SYSTEM_SEMTRACE = "semtrace"  # messaging.system of the in-process EventBus
MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
MCP_TASK_EVENT = "mcp.task.status"  # span event: one per task status change
MCP_TASK_PREVIOUS_STATUS = "mcp.task.previous_status"
MCP_TASK_TTL_MS = "mcp.task.ttl_ms"
SEMTRACE_TASK_NAME = "semtrace.task.name"
SEMTRACE_TASK_POLLS = "semtrace.task.polls"
SEMTRACE_TASK_INPUT_EVENT = "semtrace.task.input"  # span event: a human answered
SEMTRACE_TASK_REJECTED_EVENT = "semtrace.task.transition_rejected"  # span event
SEMTRACE_TASK_ANSWERED_BY = "semtrace.task.answered_by"
SEMTRACE_TASK_ANSWER = "semtrace.task.answer"
SEMTRACE_TASK_REQUESTED_STATUS = "semtrace.task.requested_status"
SEMTRACE_WRAPPED_METHOD = "semtrace.wrapped.method"
SEMTRACE_BUS_NAME = "semtrace.bus.name"
SEMTRACE_LINK_KIND = "semtrace.link.kind"

# --- Semantic log records as span events (telemetry; template, action, cause and impact use
# the SEMTRACE_LOG_* keys above) ---------------------------------------------------------------
SEMTRACE_LOG_EVENT = "semtrace.log"
SEMTRACE_LOG_SEVERITY = "semtrace.log.severity"
SEMTRACE_LOG_MESSAGE = "semtrace.log.message"

# --- heal (semtrace.diagnose.heal) ----------------------------------------------------------
SEMTRACE_HEAL_ACTION = "semtrace.heal.action"
SEMTRACE_HEAL_OUTCOME = "semtrace.heal.outcome"
SEMTRACE_HEAL_EPISODE = "semtrace.heal.episode"
SEMTRACE_HEAL_FINGERPRINT = "semtrace.heal.fingerprint"
SEMTRACE_HEAL_CATEGORY = "semtrace.heal.category"
SEMTRACE_HEAL_DELAY_S = "semtrace.heal.delay_s"  # backoff waited before a heal attempt
SEMTRACE_HEAL_REASON = "semtrace.heal.reason"  # why heal tried this action now

# --- failure facts: what an exception carried beyond its message (telemetry/errors) --------
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_STATUS_CODE = "http.status_code"  # the deprecated name, still sent by older instrumentations
RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code"
DB_RESPONSE_STATUS_CODE = "db.response.status_code"  # SQLSTATE or the vendor's error code
DB_SYSTEM = "db.system"
SERVER_ADDRESS = "server.address"
SEMTRACE_ERROR_ERRNO = "semtrace.error.errno"
SEMTRACE_ERROR_CODE = "semtrace.error.code"  # the service's own code (AccessDenied, ...)
SEMTRACE_ERROR_RETRY_AFTER_S = "semtrace.error.retry_after_s"
SEMTRACE_IMPACT = "semtrace.impact"
