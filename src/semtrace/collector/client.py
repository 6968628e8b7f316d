"""Talking to a collector or owner from another process: SQL queries and rows for the
tables semtrace's tools write.

:class:`CollectorConnection` answers ``.sql()``/``.execute()`` like a DuckDB connection over
``POST /v1/query`` (``semtrace.connect()``, ``semtrace sql``, the dashboard and ``doctor`` use
it while an owner holds the file); :class:`RecordsClient` appends diagnoses and heal attempts
over ``POST /v1/records``. Spans and logs go through :mod:`semtrace.store.remote`. Requests
carry the owner's token: the one given, the one its announcement holds, or ``SEMTRACE_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.ipc as ipc

from semtrace.config import ENV_TOKEN
from semtrace.exceptions import QueryError
from semtrace.store.ownership import token_for_url

__all__ = [
    "CollectorConnection",
    "CollectorResult",
    "RecordsClient",
    "RecordsUnavailable",
]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
_log = logging.getLogger("semtrace.collector")


def _auth_headers(url: str, token: str | None = None) -> dict[str, str]:
    """The bearer header for ``url``: the token given, else the one its owner announced,
    else ``SEMTRACE_TOKEN``."""
    token = token or token_for_url(url) or os.environ.get(ENV_TOKEN)
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- SQL through the collector ----------------------------------------------------------------


class CollectorResult:
    """A query result fetched from the collector, answering as a DuckDB relation's result
    does: ``.df()``/``.fetchdf()``/``.fetch_df()`` (pandas), ``.pl()`` (polars),
    ``.arrow()``/``.to_arrow_table()``/``.fetch_arrow_table()`` (a pyarrow Table),
    ``.fetchnumpy()``, ``.fetchall()``/``.fetchone()``."""

    def __init__(self, table: pa.Table, truncated: bool = False) -> None:
        self._table = table
        self.truncated = truncated
        self._cursor = 0

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    def to_arrow_table(self) -> pa.Table:
        return self._table

    def arrow(self) -> pa.Table:
        return self._table

    def fetch_arrow_table(self) -> pa.Table:
        return self._table

    def df(self) -> Any:
        return self._table.to_pandas()

    # DuckDB's other names for a pandas result.
    fetchdf = fetch_df = to_df = df

    def fetchnumpy(self) -> dict[str, Any]:
        """Each column as a NumPy array, by name (as DuckDB's ``fetchnumpy()``)."""
        return {
            name: column.to_numpy(zero_copy_only=False)
            for name, column in zip(self._table.column_names, self._table.columns, strict=True)
        }

    def pl(self) -> Any:
        import polars as pl  # optional, as with DuckDB's own .pl()

        return pl.from_arrow(self._table)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows()[self._cursor :]
        self._cursor += len(rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._rows()
        if self._cursor >= len(rows):
            return None
        self._cursor += 1
        return rows[self._cursor - 1]

    def _rows(self) -> list[tuple[Any, ...]]:
        cols = [c.to_pylist() for c in self._table.columns]
        return list(zip(*cols, strict=True)) if cols else []

    def __len__(self) -> int:
        return self._table.num_rows

    def __repr__(self) -> str:
        return f"CollectorResult({self._table.num_rows} rows: {', '.join(self.columns)})"


class CollectorConnection:
    """Read-only SQL over a collector's ``/v1/query``, shaped like a DuckDB connection."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def sql(self, query: str, params: Sequence[Any] | None = None) -> CollectorResult:
        """Run one read-only query on the collector; QueryError with its reason on failure."""
        doc: dict[str, Any] = {"sql": query, "format": "arrow"}
        if params:
            doc["params"] = list(params)
        headers = {"Content-Type": "application/json", **_auth_headers(self.url, self.token)}
        req = urllib.request.Request(
            f"{self.url}/v1/query", data=orjson.dumps(doc, default=str), headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = resp.read()
                truncated = resp.headers.get("X-Semtrace-Truncated") == "true"
        except urllib.error.HTTPError as exc:
            raise QueryError(_error_text(exc.read(), exc.code)) from None
        except OSError as exc:
            raise QueryError(f"the collector at {self.url} is not reachable: {exc}") from None
        table = pa.ipc.open_stream(body).read_all()
        if truncated:
            _log.warning("semtrace: the collector truncated the result to %d rows", table.num_rows)
        return CollectorResult(table, truncated)

    def execute(self, query: str, params: Sequence[Any] | None = None) -> CollectorResult:
        return self.sql(query, params)

    def cursor(self) -> CollectorConnection:
        return self

    def close(self) -> None:
        """Nothing to release: each query is one HTTP request."""

    def __enter__(self) -> CollectorConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error_text(body: bytes, status: int) -> str:
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and doc.get("message"):
            return str(doc["message"])
    except orjson.JSONDecodeError:
        pass
    return f"the collector answered HTTP {status}: {body[:300]!r}"


# -- rows for diagnoses and heal attempts ---------------------------------------------------


class RecordsUnavailable(Exception):
    """The collector did not take the rows (no such endpoint, refused, or unreachable)."""


class RecordsClient:
    """Append rows to a collector-owned database over ``/v1/records``, like a store."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def append_arrow(self, table_name: str, table: pa.Table) -> None:
        """Send ``table`` for ``table_name``; :class:`RecordsUnavailable` when not stored."""
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        request = urllib.request.Request(
            f"{self.url}/v1/records?table={quote(table_name)}",
            data=sink.getvalue().to_pybytes(),
            headers={"Content-Type": ARROW_STREAM, **_auth_headers(self.url, self.token)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise RecordsUnavailable(f"the collector answered {exc.code}: {detail}") from None
        except OSError as exc:
            raise RecordsUnavailable(f"the collector could not be reached: {exc}") from None
