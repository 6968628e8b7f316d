"""Opening a database that DuckDB cannot read raises a SemtraceError naming the path and a fix."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from semtrace.exceptions import SemtraceError
from semtrace.store.database import Store, _translate_open_error, connect_readonly


def test_a_folder_is_a_semtrace_error(tmp_path: Path) -> None:
    """A folder given as the database says it is a folder, for readers and writers."""
    for opener in (connect_readonly, Store):
        with pytest.raises(SemtraceError, match=r"cannot open .*: Is a directory; it is a folder"):
            opener(tmp_path)


def test_permission_denied_says_to_check_permissions() -> None:
    """DuckDB's permission-denied IO error becomes 'cannot open PATH: reason; fix'."""
    exc = duckdb.IOException('IO Error: Cannot open file "/srv/app.duckdb": Permission denied')
    err = _translate_open_error(exc, "/srv/app.duckdb")
    assert isinstance(err, SemtraceError)
    assert str(err).startswith("cannot open /srv/app.duckdb: Permission denied; check the")
