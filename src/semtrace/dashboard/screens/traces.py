"""Traces: what ran, three ways. *Runs* groups the traces one piece of work spread over
(message hops, consumer traces) under the run that caused them; *Traces* lists every trace;
*Sessions* shows the runs of each ``session_id`` as a chat thread, turn by turn. Filters and
a search over the sentences apply to all three; failures stand out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from semtrace.dashboard import _data
from semtrace.dashboard import queries as q
from semtrace.dashboard._widgets import (
    RUNNING,
    empty_state,
    fmt_cost,
    fmt_ms,
    fmt_tokens,
    plural,
    refresh_every,
    status_icon,
)
from semtrace.dashboard.content import as_text, span_input, span_output

RANGES = {
    "Last 15 minutes": timedelta(minutes=15),
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "All time": None,
}
VIEWS = ["Runs", "Traces", "Sessions"]
_FAILED_ROW = "background-color: #fdecea"


def _highlight_failed(df: pd.DataFrame) -> Any:
    """The table with its failed rows (a failure or more) tinted red."""
    failed = df["failures"] > 0

    def style(row: pd.Series) -> list[str]:
        return [_FAILED_ROW if failed.loc[row.name] else ""] * len(row)

    # A Styler shows numbers as they are, not as the column_config formats them: tokens are
    # integers (missing ones "-").
    tokens = [c for c in ("input_tokens", "output_tokens", "tokens") if c in df.columns]
    for column in tokens:
        df[column] = df[column].astype("Int64")
    return df.style.apply(style, axis=1).format(na_rep="-", subset=tokens)


def _height(rows: int) -> int:
    """A table tall enough for its rows, up to about 17 of them."""
    return min(36 + 35 * rows, 640)


def _open_selected(event: Any, df: pd.DataFrame, column: str) -> None:
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if rows:
        st.switch_page("screens/trace.py", query_params={"trace": str(df.iloc[rows[0]][column])})


def _matches(items: list[dict[str, Any]], text: str, link: str) -> None:
    """The whole sentence of each hit, with a link to its trace."""
    hits = [i for i in items if i.get("matched_sentence")]
    if not hits:
        return
    st.markdown(f"**Sentences matching “{text}”**")
    for item in hits[:50]:
        st.page_link(
            "screens/trace.py",
            label=str(item["matched_sentence"]),
            query_params={"trace": item[link]},
            icon=":material/format_quote:",
        )


def _runs(filters: dict[str, Any], text: str) -> None:
    with _data.connection() as con:
        runs = q.run_list(con, **filters)
        running = q.running_traces(con, [t for r in runs for t in r["trace_ids"]])
    if not runs:
        _nothing(filters)
        return
    failed = sum(1 for r in runs if r["status"] == "ERROR")
    traces = len({t for r in runs for t in r["trace_ids"]})
    live = sum(1 for r in runs if running & set(r["trace_ids"]))
    st.caption(
        f"**{plural(len(runs), 'run')}**, {failed} failed{f', {live} running' if live else ''}"
        f" · {plural(traces, 'trace')} · "
        f"{fmt_tokens(sum(r['input_tokens'] + r['output_tokens'] for r in runs))} tokens · "
        f"{fmt_cost(sum(r['cost_usd'] for r in runs))} · a run is the trace where the work "
        "started plus every trace its messages caused"
    )
    df = pd.DataFrame(
        [
            {
                "open": f"/trace?trace={r['open_trace']}",
                "status": RUNNING if running & set(r["trace_ids"]) else status_icon(r["status"]),
                "run": r["title"],
                "said": r["matched_sentence"] or "",
                "traces": r["traces"],
                "spans": r["spans"],
                "failures": r["failures"],
                "duration_ms": r["duration_ms"],
                "start_time": r["start_time"],
                "agents": r["agents"],
                "tokens": r["input_tokens"] + r["output_tokens"],
                "cost_usd": r["cost_usd"],
                "session": r["session_id"] or "",
                "replay": f"/replay?trace={r['open_trace']}",
                "trace_id": r["open_trace"],
            }
            for r in runs
        ]
    )
    if not text:
        df = df.drop(columns=["said"])
    event = st.dataframe(
        _highlight_failed(df),
        hide_index=True,
        height=_height(len(df)),
        on_select="rerun",
        selection_mode="single-row",
        key="tr_runs",
        column_order=[c for c in df.columns if c != "trace_id"],
        column_config={
            "open": st.column_config.LinkColumn("open", display_text="open ↗", width="small"),
            "replay": st.column_config.LinkColumn("replay", display_text="▶ replay", width="small"),
            "run": st.column_config.TextColumn("run", width="medium"),
            "said": st.column_config.TextColumn("matching sentence", width="large"),
            "duration_ms": st.column_config.NumberColumn("duration", format="%.1f ms"),
            "start_time": st.column_config.DatetimeColumn("start", format="YYYY-MM-DD HH:mm:ss"),
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
        },
    )
    _open_selected(event, df, "trace_id")
    if text:
        _matches(runs, text, "open_trace")


def _traces(filters: dict[str, Any], text: str) -> None:
    with _data.connection() as con:
        table = q.trace_list(con, **filters)
        running = q.running_traces(con, table.column("trace_id").to_pylist())
    if table.num_rows == 0:
        _nothing(filters)
        return
    df = table.to_pandas().rename(columns={"failure_count": "failures"})
    live = f", {len(running)} running" if running else ""
    st.caption(
        f"**{plural(len(df), 'trace')}**, {int((df['failures'] > 0).sum())} failed{live} · "
        f"{fmt_tokens(df['input_tokens'].fillna(0).sum() + df['output_tokens'].fillna(0).sum())}"
        f" tokens · {fmt_cost(df['cost_usd'].fillna(0).sum())}"
    )
    df.insert(0, "open", "/trace?trace=" + df["trace_id"])
    df["status"] = [
        RUNNING if t in running else status_icon(s)
        for t, s in zip(df["trace_id"], df["status"], strict=True)
    ]
    if df["matched_sentence"].isna().all():
        df = df.drop(columns=["matched_sentence"])
    event = st.dataframe(
        _highlight_failed(df),
        hide_index=True,
        height=_height(len(df)),
        on_select="rerun",
        selection_mode="single-row",
        key="tr_table",
        column_order=[
            c
            for c in (
                "open",
                "status",
                "root_name",
                "matched_sentence",
                "failures",
                "duration_ms",
                "start_time",
                "agents",
                "span_count",
                "input_tokens",
                "output_tokens",
                "cost_usd",
                "trace_id",
                "services",
            )
            if c in df.columns
        ],
        column_config={
            "root_name": st.column_config.TextColumn("root"),
            "input_tokens": st.column_config.NumberColumn("in tokens"),
            "output_tokens": st.column_config.NumberColumn("out tokens"),
            "open": st.column_config.LinkColumn("open", display_text="open ↗", width="small"),
            "trace_id": st.column_config.TextColumn("trace id"),
            "start_time": st.column_config.DatetimeColumn("start", format="YYYY-MM-DD HH:mm:ss"),
            "duration_ms": st.column_config.NumberColumn("duration", format="%.1f ms"),
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
            "span_count": st.column_config.NumberColumn("spans"),
            "matched_sentence": st.column_config.TextColumn("matching sentence", width="large"),
        },
    )
    _open_selected(event, df, "trace_id")
    if text:
        _matches(df.to_dict("records"), text, "trace_id")


def _sessions() -> None:
    with _data.connection() as con:
        sessions = q.session_list(con)
    if not sessions:
        empty_state(
            "No sessions yet.",
            "Spans that carry a session or conversation id (`gen_ai.conversation.id`, "
            "`session.id`) are grouped here as threads, one turn per trace.",
        )
        return
    df = (
        pd.DataFrame(sessions)
        .drop(columns=["failures"])
        .rename(columns={"failed_turns": "failures"})
    )
    st.caption(
        f"**{plural(len(df), 'session')}**, {int((df['failures'] > 0).sum())} with a failed turn"
    )
    event = st.dataframe(
        _highlight_failed(df),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="tr_sessions",
        column_order=["session_id", "turns", "failures", "started", "last_active", "agents"],
        column_config={
            "session_id": st.column_config.TextColumn("session"),
            "failures": st.column_config.NumberColumn("failed turns"),
            "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
            "last_active": st.column_config.DatetimeColumn(
                "last active", format="YYYY-MM-DD HH:mm:ss"
            ),
        },
    )
    picked = event.selection.rows if event is not None and hasattr(event, "selection") else []
    session = str(df.iloc[picked[0] if picked else 0]["session_id"])
    _thread(session)


def _thread(session: str) -> None:
    """A session as a chat thread: what came in, what went out, turn after turn."""
    with _data.connection() as con:
        turns = q.session_turns(con, session)
    st.markdown(f"#### Session `{session}` · {len(turns)} turn{'s' if len(turns) != 1 else ''}")
    for n, turn in enumerate(turns, start=1):
        root = {"attributes": turn["root_attributes"]}
        asked = as_text(span_input(root))
        with st.chat_message("user", avatar=":material/person:"):
            st.caption(f"turn {n} · {turn['start_time']:%Y-%m-%d %H:%M:%S}")
            if asked:
                st.markdown(asked)
            else:
                st.markdown(f"`{turn['root_name']}` (its input was not recorded)")
        with st.chat_message("assistant", avatar=":material/smart_toy:"):
            st.caption(
                f"{turn['root_agent'] or turn['root_name']} · {fmt_ms(turn['duration_ms'])} · "
                f"{turn['span_count']} spans"
            )
            if turn["failure_count"]:
                st.error(turn["failure"] or "This turn failed.", icon=":material/error:")
            else:
                answer = as_text(span_output(root)) or turn["last_sentence"] or "(done)"
                st.markdown(answer)
            st.page_link(
                "screens/trace.py",
                label="Open this turn's trace",
                query_params={"trace": turn["trace_id"]},
                icon=":material/open_in_new:",
            )


def _nothing(filters: dict[str, Any]) -> None:
    if any(filters.get(k) for k in ("services", "agents", "text", "status", "since")):
        empty_state("No trace matches these filters.", "Widen the time range or clear a filter.")
    else:
        empty_state(
            "No traces yet.",
            "Run an agent with `semtrace.configure()` writing to this database, "
            "or `semtrace demo` for a sample run.",
        )


def main() -> None:
    st.title("Traces")
    options = _data.filter_options()
    c = st.columns([1.1, 1.3, 1.3, 0.8, 2.4])
    window = c[0].selectbox("Time range", list(RANGES), index=4, key="tr_range")
    services = c[1].multiselect("Service", options["services"], key="tr_services")
    agents = c[2].multiselect("Agent", options["agents"], key="tr_agents")
    status = c[3].selectbox("Status", ["Any", "Failed", "OK"], key="tr_status")
    text = (
        c[4]
        .text_input(
            "Search the sentences", key="tr_text", placeholder="e.g. vendor, timeout, Last-updated"
        )
        .strip()
    )
    view = st.segmented_control(
        "View",
        VIEWS,
        default="Runs",
        required=True,
        key="view",
        bind="query-params",
        label_visibility="collapsed",
    )
    span = RANGES[window]
    filters = {
        "since": (datetime.now(UTC) - span).isoformat() if span else None,
        "services": services,
        "agents": agents,
        "status": {"Failed": "ERROR", "OK": "OK"}.get(status),
        "text": text or None,
    }

    @st.fragment(run_every=refresh_every())
    def table() -> None:
        if view == "Traces":
            _traces(filters, text)
        elif view == "Sessions":
            _sessions()
        else:
            _runs(filters, text)

    table()


main()
