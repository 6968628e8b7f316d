"""Agents: who calls or messages whom, with counts, latency, errors, tokens and cost per
agent and per edge, and the orchestration pattern the topology shows."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import streamlit as st

from semtrace.dashboard import _data, charts
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import empty_state, fmt_cost, fmt_ms, fmt_tokens, refresh_every

# Label and number format of the latency, error-rate and cost columns the tables share.
_FORMATS = {
    "p50_ms": ("p50", "%.1f ms"),
    "p95_ms": ("p95", "%.1f ms"),
    "p99_ms": ("p99", "%.1f ms"),
    "error_rate": ("error rate", "percent"),
    "cost_usd": ("cost", "$%.5f"),
}


def _number_columns(*names: str) -> dict[str, Any]:
    """The ``column_config`` of a table showing the named columns of :data:`_FORMATS`."""
    return {
        name: st.column_config.NumberColumn(_FORMATS[name][0], format=_FORMATS[name][1])
        for name in names
    }


_TEXT = {
    "p50_ms": fmt_ms,
    "p95_ms": fmt_ms,
    "p99_ms": fmt_ms,
    "error_rate": lambda v: "-" if v is None else f"{float(v):.1%}",
    "cost_usd": fmt_cost,
    "input_tokens": fmt_tokens,
    "output_tokens": fmt_tokens,
}


def _readable(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows with latencies, rates, tokens and cost as text ("-" when unknown, never a
    grey None)."""
    df = pd.DataFrame(rows)
    for column, fmt in _TEXT.items():
        if column in df.columns:
            df[column] = [fmt(None if pd.isna(v) else v) for v in df[column]]
    return df.rename(columns={k: v[0] for k, v in _FORMATS.items() if k in df.columns})


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
    left, right = st.columns([2.6, 1], gap="medium")
    with right:
        st.caption(f"**{len(stats)} agents** · {len(edges)} edges between them")
        st.success(f"**Orchestration: {pattern}.**\n\n{lines}", icon=":material/hub:")
        st.caption(
            "Node size: calls · colour: error rate · grey arrows: calls (parent span to "
            "child span) · purple dotted: messages (span links) · labels: how many, how "
            "many failed"
        )
    with left:
        st.plotly_chart(
            charts.agent_graph(
                edges,
                agents=[s["agent_name"] for s in stats],
                stats={s["agent_name"]: s for s in stats},
            ),
            key="agents_graph",
            config={"displaylogo": False, "displayModeBar": False},
        )
    st.markdown("#### Edges: who calls or messages whom")
    if edges:
        st.dataframe(
            edges,
            hide_index=True,
            column_config=_number_columns("p50_ms", "p95_ms", "error_rate", "cost_usd"),
        )
    else:
        st.caption("No agent calls or messages another one.")
    st.markdown("#### Per agent")
    st.dataframe(
        _readable(stats),
        hide_index=True,
    )
    st.markdown("#### Tokens and cost by model")
    if models:
        st.dataframe(
            models,
            hide_index=True,
            column_config=_number_columns("cost_usd", "p50_ms"),
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
