"""The Parquet lake: every owner's committed rows, Hive-partitioned, read with the same SQL.

``layout`` says where a row goes and writes files atomically (shared with ``semtrace
export``), ``sink`` follows an owner's database into the lake exactly once, ``files`` says
which files a reader reads, ``compact`` merges small files and applies retention, and
``read`` opens the contract's tables and views over a lake in DuckDB. Spark reads the same
lake through :mod:`semtrace.spark`.
"""

from __future__ import annotations

from semtrace.lake.files import visible_files
from semtrace.lake.read import connect_lake, is_lake
from semtrace.lake.sink import LakeSink, owner_id

__all__ = ["LakeSink", "connect_lake", "is_lake", "owner_id", "visible_files"]
