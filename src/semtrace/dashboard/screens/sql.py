"""SQL: a query editor with the schema beside it, saved examples, results as a table with
CSV download, and a quick chart."""

from __future__ import annotations

import streamlit as st

from semtrace.dashboard import _data
from semtrace.dashboard import queries as q
from semtrace.exceptions import QueryError
from semtrace.store.queries import run_sql

MAX_ROWS = 10_000


def main() -> None:
    st.title("SQL")
    with _data.connection() as con:
        catalog = q.schema_catalog(con).to_pylist()
    schema, editor = st.columns([1, 3])
    with schema:
        st.markdown("#### Schema")
        tables: dict[str, list[dict[str, str]]] = {}
        for row in catalog:
            tables.setdefault(f"{row['table_name']} ({row['table_type'].lower()})", []).append(row)
        for name, cols in tables.items():
            with st.expander(name):
                st.markdown(
                    "\n".join(f"- `{c['column_name']}` {c['data_type'].lower()}" for c in cols)
                )
    with editor:
        example = st.selectbox("Examples", list(q.EXAMPLE_QUERIES), key="sql_example")
        if st.session_state.get("sql_loaded") != example:
            st.session_state["sql_text"] = q.EXAMPLE_QUERIES[example]
            st.session_state["sql_loaded"] = example
        sql = st.text_area("Query", key="sql_text", height=160)
        if (
            not st.button("Run", type="primary", icon=":material/play_arrow:", key="sql_run")
            and "sql_result" not in st.session_state
        ):
            return
        if st.session_state.get("sql_ran") != sql:
            with _data.connection() as con:
                try:
                    st.session_state["sql_result"] = (
                        run_sql(con, sql).slice(0, MAX_ROWS).to_pandas()
                    )
                    st.session_state["sql_error"] = None
                except QueryError as exc:
                    st.session_state["sql_error"] = str(exc)
            st.session_state["sql_ran"] = sql
        if st.session_state.get("sql_error"):
            st.error(st.session_state["sql_error"])
            return
        df = st.session_state["sql_result"]
        st.caption(f"{len(df):,} row(s)")
        st.dataframe(df, hide_index=True)
        st.download_button(
            "Download CSV", df.to_csv(index=False), file_name="semtrace-query.csv", mime="text/csv"
        )
        if len(df.columns) >= 2 and len(df):
            with st.expander("Quick chart", expanded=False):
                c1, c2, c3 = st.columns(3)
                x = c1.selectbox("x", list(df.columns), key="sql_x")
                numeric = [
                    c
                    for c in df.columns
                    if str(df[c].dtype).startswith(("int", "float", "Int", "Float"))
                ]
                y = c2.selectbox("y", numeric or list(df.columns), key="sql_y")
                kind = c3.radio("Chart", ["bar", "line"], horizontal=True, key="sql_kind")
                data = df[[x, y]].set_index(x)
                (st.bar_chart if kind == "bar" else st.line_chart)(data)


main()
