"""The ``tasks`` and ``messages`` views are in every semtrace database, so the dashboard's
queries read them without asking whether they exist: an empty file gives empty tables."""

from __future__ import annotations

from pathlib import Path

import semtrace
from semtrace.dashboard import queries as q


def test_an_empty_database_has_the_tasks_and_messages_views(empty_db: Path) -> None:
    con = semtrace.connect(empty_db)
    try:
        tasks, messages = q.task_list(con), q.message_list(con)
    finally:
        con.close()
    assert tasks.num_rows == 0 and "task_id" in tasks.column_names
    assert messages.num_rows == 0
    assert {"topic", "producer_agent", "outcome"} <= set(messages.column_names)
