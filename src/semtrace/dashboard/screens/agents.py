"""Agents: who calls or messages whom, with counts, latency, errors, tokens and cost per
agent and per edge, and the orchestration pattern the topology shows."""

from __future__ import annotations

import pyarrow as pa
import streamlit as st

from semtrace.dashboard import _data, charts
from semtrace.dashboard._widgets import empty_state, refresh_every
from semtrace.store import ui_queries as q


@st.fragment(run_every=refresh_every())
def main() -> None:
    st.title("Agents")
    with _data.connection() as con:
        stats = q.agent_stats(con).to_pylist()
        edges = q.agent_edges(con).to_pylist()
        models = q.cost_by_model(con).to_pylist()
        messages = q.message_list(con)
    if not stats:
        empty_state("No agents yet.", 'Decorate agent entry points with `@semtrace.agent("name")`.')
        return
    table = pa.Table.from_pylist(edges) if edges else pa.table({"kind": pa.array([], pa.string())})
    pattern, _ = q.orchestration_pattern(table)
    groups = q.orchestration_patterns(table)
    lines = "\n".join(f"- **{name}**: {why}" for name, why in groups) or "- no agent calls another"
    st.success(f"**Orchestration: {pattern}.**\n\n{lines}", icon=":material/hub:")
    st.plotly_chart(
        charts.agent_graph(edges, agents=[s["agent_name"] for s in stats]),
        key="agents_graph",
        config={"displaylogo": False},
    )
    st.markdown("#### Edges: who calls or messages whom")
    if edges:
        st.dataframe(
            edges,
            hide_index=True,
            column_config={
                "p50_ms": st.column_config.NumberColumn("p50", format="%.1f ms"),
                "p95_ms": st.column_config.NumberColumn("p95", format="%.1f ms"),
                "error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
            },
        )
    else:
        st.caption("No agent calls or messages another one.")
    st.markdown("#### Per agent")
    st.dataframe(
        stats,
        hide_index=True,
        column_config={
            "p50_ms": st.column_config.NumberColumn("p50", format="%.1f ms"),
            "p95_ms": st.column_config.NumberColumn("p95", format="%.1f ms"),
            "p99_ms": st.column_config.NumberColumn("p99", format="%.1f ms"),
            "error_rate": st.column_config.NumberColumn("error rate", format="percent"),
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
        },
    )
    st.markdown("#### Tokens and cost by model")
    if models:
        st.dataframe(
            models,
            hide_index=True,
            column_config={
                "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
                "p50_ms": st.column_config.NumberColumn("p50", format="%.1f ms"),
            },
        )
    else:
        st.caption("No LLM calls recorded.")
    st.markdown("#### Messages")
    if messages is None:
        empty_state(
            "The `messages` view is not in this database yet.",
            "Message edges above come from span links; a newer semtrace adds the view.",
        )
    elif messages.num_rows:
        st.dataframe(
            messages.to_pandas(),
            hide_index=True,
            column_config={
                "queue_wait_ms": st.column_config.NumberColumn("queue wait", format="%.1f ms")
            },
        )
    else:
        st.caption("No messages between agents.")


main()
