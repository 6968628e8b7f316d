"""The collector (an owner) serves every reader's SQL: its DuckDB cache is the server's."""

from __future__ import annotations

from collections.abc import Callable

from semtrace.collector.server import Collector


def test_the_collector_keeps_a_larger_cache_than_an_agents_writer(
    make_collector: Callable[..., Collector],
) -> None:
    """Its store caps DuckDB's cache at 256 MB, where an agent's own writer keeps 64 MB."""
    collector = make_collector()
    row = collector.store.cursor().execute("select current_setting('memory_limit')").fetchone()
    assert row == ("244.1 MiB",)  # 256 MB, as DuckDB prints it
