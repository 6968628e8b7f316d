"""semtrace.spark: the same tables, views and README queries in Spark as in DuckDB, one lake.

One SparkSession (local mode, UI off, few shuffle partitions) serves the whole module: a
JVM takes tens of seconds to start on a busy machine. The tests that need it are skipped
without pyspark or Java; the check of the Spark queries' text against the README is not.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from semtrace import connect
from semtrace.lake import LakeSink
from semtrace.lake.layout import LAYOUTS
from semtrace.spark import SPARK_VIEWS, local_session, register
from semtrace.store import schema
from semtrace.store.database import Store
from semtrace.store.views import VIEWS
from tests.lake.conftest import assert_same_rows, dict_rows
from tests.store.test_failure_count import write_runs

ROOT = Path(__file__).resolve().parents[2]
README_SQL = re.findall(r"```sql\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
_SCALING = (ROOT / "docs" / "scaling.md").read_text()
SPARK_SQL = re.findall(
    r"```sql\n(.*?)```", _SCALING.split("The README's example queries, in Spark SQL")[1], flags=re.S
)

# README queries whose Spark twin is rewritten: the DuckDB-only construct each uses, and the
# Spark SQL that replaces it. Every other twin is the README's text as it stands.
_REWRITTEN = {
    "list(distinct error_type) filter": "array_sort(collect_set(error_type))",
    "attributes->>'$.": "get_json_object(attributes,",
}


def test_the_spark_twins_are_the_readme_queries_but_where_spark_lacks_a_construct() -> None:
    """Each Spark twin in docs/scaling.md is its README query verbatim (without the closing
    ';'), except the two whose DuckDB-only construct is rewritten: a README query edited
    without its twin fails here, with or without Spark installed."""
    assert len(SPARK_SQL) == len(README_SQL), "one Spark query per README query"
    verbatim = 0
    for duck_sql, spark_sql in zip(README_SQL, SPARK_SQL, strict=True):
        construct = next((c for c in _REWRITTEN if c in duck_sql), None)
        if construct is None:
            assert spark_sql.strip() == duck_sql.strip().removesuffix(";"), duck_sql
            verbatim += 1
        else:
            assert construct not in spark_sql and _REWRITTEN[construct] in spark_sql, spark_sql
    assert verbatim == len(README_SQL) - len(_REWRITTEN) == 8


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pip install 'semtrace[spark]'")
    if not (
        os.environ.get("JAVA_HOME")
        or Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir()
        or shutil.which("java")
    ):
        pytest.skip("Spark needs Java 17 or newer (make java installs it)")
    # AQE off: it plans slower than it saves on data this small.
    session = local_session(cores=1, memory="1g", shuffle_partitions=1, name="semtrace-tests")
    session.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def lake(demo_db_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database published to a lake by one sink (one owner's files)."""
    root = tmp_path_factory.mktemp("spark-lake")
    copy = root / "demo.duckdb"
    shutil.copy(demo_db_master, copy)
    store = Store(copy)
    LakeSink(store, root / "lake").flush()
    store.close()
    return root / "lake"


@pytest.fixture(scope="module")
def engines(spark: Any, lake: Path) -> tuple[Any, Any]:
    register(spark, lake)
    duck = connect(lake=lake)
    duck.execute("SET TimeZone = 'UTC'")
    return spark, duck


def _spark_rows(spark: Any, sql: str) -> list[dict[str, Any]]:
    return [r.asDict(recursive=True) for r in spark.sql(sql).collect()]


def test_spark_has_every_relation_with_the_contract_columns(engines: tuple[Any, Any]) -> None:
    """Every table and view exists in Spark with DuckDB's column names, in DuckDB's order."""
    spark, duck = engines
    assert list(SPARK_VIEWS) == list(VIEWS)
    for name in (*schema.TABLES, *VIEWS):
        spark_cols = spark.table(name).columns
        duck_cols = [d[0] for d in duck.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()]
        assert spark_cols == duck_cols, name


# Columns where both engines may pick either of several equal answers (a tie in mode()).
_TIES = {"recoveries": "usual_fix"}
# Open tasks run their duration to now(): compare the columns that do not move.
_MOVING = {"tasks": "history, duration_ms, working_ms, input_required_ms, human_wait_ms"}


@pytest.mark.parametrize("name", [*LAYOUTS, *VIEWS])
def test_every_relation_gives_the_same_rows(engines: tuple[Any, Any], name: str) -> None:
    """Spark and DuckDB over one lake: the same rows, column by column."""
    spark, duck = engines
    skip = ", ".join(c for c in (_TIES.get(name), _MOVING.get(name)) if c)
    duck_sql = f"SELECT * EXCLUDE ({skip}) FROM {name}" if skip else f"SELECT * FROM {name}"
    spark_sql = f"SELECT * EXCEPT ({skip}) FROM {name}" if skip else f"SELECT * FROM {name}"
    expected = dict_rows(duck, duck_sql)
    assert expected or name == schema.SEMTRACE_STATS, f"the demo lake has no {name} rows"
    assert_same_rows(_spark_rows(spark, spark_sql), expected)


def test_a_log_sentences_failure_counts_in_both_engines(
    spark: Any, lake: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The demo has no failure told by a log sentence alone: on the runs of
    tests.store.test_failure_count, published to a lake, both engines give each trace the
    failures the failures view counts (the log sentence's 1, the propagated failure's 1 of 3
    ERROR spans, the caught failure's 1), row for row."""
    root = tmp_path_factory.mktemp("spark-counted")
    write_runs(root / "runs.duckdb")
    store = Store(root / "runs.duckdb")
    LakeSink(store, root / "lake").flush()
    store.close()
    register(spark, root / "lake")
    duck = connect(lake=root / "lake")
    try:
        duck.execute("SET TimeZone = 'UTC'")
        sql = (
            "SELECT t.root_name, t.error_count, t.failure_count, count(f.trace_id) AS counted "
            "FROM traces t LEFT JOIN failures f ON f.trace_id = t.trace_id "
            "GROUP BY t.root_name, t.error_count, t.failure_count"
        )
        expected = dict_rows(duck, sql)
        assert sorted(expected, key=lambda r: r["root_name"]) == [
            {"root_name": r, "error_count": e, "failure_count": n, "counted": n}
            for r, e, n in [
                ("invoke_agent compliance", 1, 1),
                ("invoke_agent intake", 0, 1),
                ("invoke_agent ok", 0, 0),
                ("invoke_agent procurement", 3, 1),
            ]
        ]
        assert_same_rows(_spark_rows(spark, sql), expected)
        assert_same_rows(
            _spark_rows(spark, "SELECT * FROM traces"), dict_rows(duck, "SELECT * FROM traces")
        )
    finally:
        duck.close()
        register(spark, lake)  # the other tests' lake again, whatever runs next


def test_the_readme_queries_give_the_same_rows(engines: tuple[Any, Any]) -> None:
    """Each README example query (DuckDB) and its Spark SQL twin in docs/scaling.md return
    the same rows over the same lake; a README query without a twin fails here."""
    spark, duck = engines
    assert len(SPARK_SQL) == len(README_SQL), (
        "docs/scaling.md lists one Spark query per README query"
    )
    for duck_sql, spark_sql in zip(README_SQL, SPARK_SQL, strict=True):
        expected = dict_rows(duck, duck_sql)
        assert expected, duck_sql
        got = _spark_rows(spark, spark_sql)
        try:
            assert_same_rows(got, expected, sort_lists=True)
        except AssertionError as exc:
            raise AssertionError(f"{spark_sql}\n{exc}") from None
