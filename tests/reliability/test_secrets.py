"""Secrets and personal data seeded in every field an agent can set never reach the database
file, nor the prompt sent to an LLM for a diagnosis."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import semtrace
from semtrace import redaction
from semtrace.store.database import close_stores
from tests.diagnose.conftest import FakeLLM, Reply, valid_answer

SECRETS = {
    "openai": "sk-proj-Zq8vN3kT1mB6xW9pL2cR7yH4dF0sJ5gA",
    "anthropic": "sk-ant-api03-Qm7Kp2Lx9Vt4Nw8Rz1Yc6Hb3Jd5Fg0Sa",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_R7pQ2mX9kL4vN8tW1yZ6cB3dF5gH0jS2aE4u",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlc2VjcmV0",
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "url_password": "hunter2secretpw",
}
DSN = f"postgres://admin:{SECRETS['url_password']}@db.internal:5432/app"


def _leaks(data: bytes) -> list[str]:
    found = []
    for name, secret in SECRETS.items():
        variants = {secret, secret.replace(" ", "")}
        if any(v.encode() in data for v in variants):
            found.append(name)
    return found


def _run_agent(db: Path) -> None:
    semtrace.configure(
        service_name="secrets", db=db, resource_attributes={"deployment.owner": SECRETS["email"]}
    )
    log = semtrace.get_logger(agent="billing")
    std = logging.getLogger("billing.stdlib")

    @semtrace.tool("charge_card", attributes={"api.key": SECRETS["openai"]})
    def charge_card(card: str, dsn: str, token: str) -> None:
        raise PermissionError(f"card {card} declined for {SECRETS['email']} (auth Bearer {token})")

    @semtrace.agent("billing")
    def bill() -> None:
        with semtrace.step(f"notify {SECRETS['email']}") as span:
            span.set_attribute("aws.key", SECRETS["aws"])
            span.set_attribute("gen_ai.input.messages", f'[{{"role":"user","content":"my key is {SECRETS["anthropic"]}"}}]')
        log.info(f"charging {SECRETS['email']}", card=SECRETS["card"], github=SECRETS["github"])
        with log.bind(dsn=DSN):
            log.warning("retrying with the backup DSN", attempt=2)
        std.error("stdlib says the token %s leaked for %s", SECRETS["github"], SECRETS["email"])
        log.failure(action="charge the card", cause=f"the gateway rejected {SECRETS['card']}",
                    impact="the invoice stays unpaid", bearer=f"Bearer {SECRETS['bearer']}")
        charge_card(SECRETS["card"], DSN, SECRETS["bearer"])

    with pytest.raises(PermissionError):
        bill()
    semtrace.force_flush()


def test_seeded_secrets_are_absent_from_the_database_file(db_path: Path) -> None:
    """After checkpointing, no seeded secret appears anywhere in the DuckDB file or its WAL,
    while the records that carried them are stored (redacted)."""
    _run_agent(db_path)
    con = semtrace.connect(db_path)
    n_spans = con.execute("select count(*) from spans").fetchone()
    n_logs = con.execute("select count(*) from logs where message like '%REDACTED%'").fetchone()
    con.close()
    assert n_spans and n_spans[0] >= 3
    assert n_logs and n_logs[0] >= 1
    semtrace.shutdown()
    close_stores()
    data = db_path.read_bytes()
    wal = Path(str(db_path) + ".wal")
    if wal.exists():
        data += wal.read_bytes()
    assert _leaks(data) == []


def test_seeded_secrets_are_absent_from_the_diagnosis_prompt(db_path: Path, fake_llm: FakeLLM) -> None:
    """The context pack sent to an LLM provider carries the failure but none of the secrets."""
    _run_agent(db_path)
    fake_llm.script(default=Reply(text=valid_answer("auth", ("escalate_to_human",))))
    diagnoses = semtrace.diagnose.run(
        db=db_path, provider="openai", base_url=fake_llm.openai_base, api_key="test-key", model="test-model"
    )
    semtrace.shutdown()
    assert diagnoses, "the failure should have been diagnosed"
    assert fake_llm.raw, "the provider should have been called"
    sent = b"".join(fake_llm.raw)
    assert b"charge_card" in sent or b"charge the card" in sent
    assert _leaks(sent) == []


# DuckDB compresses a string repeated over thousands of rows (dictionary, FSST): a byte scan
# found an unredacted secret at 5, 50 and 500 rows and missed it at 5,000. At volume the
# check goes through SQL, over every text column of every table.
VOLUME = 5_000


def _seed_at_volume(db: Path) -> None:
    semtrace.configure(service_name="secrets", db=db, batch_interval_s=0.2)
    log = semtrace.get_logger(agent="billing")

    @semtrace.tool("charge_card", attributes={"api.key": SECRETS["openai"]})
    def charge_card(card: str, token: str) -> None:
        if card.endswith("0"):
            raise PermissionError(f"card {card} declined for {SECRETS['email']} (Bearer {token})")

    @semtrace.agent("billing")
    def bill(i: int) -> None:
        with semtrace.step("notify", attributes={"customer.email": SECRETS["email"]}) as span:
            span.set_attribute("aws.key", SECRETS["aws"])
            span.set_attribute("gen_ai.input.messages", f"my key is {SECRETS['anthropic']}")
        log.info(f"charging {SECRETS['email']}", card=SECRETS["card"], github=SECRETS["github"], dsn=DSN)
        with contextlib.suppress(PermissionError):
            charge_card(f"{SECRETS['card']} #{i % 10}", SECRETS["bearer"])

    try:
        for i in range(VOLUME):
            bill(i)
    finally:
        semtrace.shutdown()


def _text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every VARCHAR or JSON column (lists of them too) of every table: where text is stored."""
    return con.execute(
        "select c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.table_schema = 'main' "
        "and (c.data_type like '%VARCHAR%' or c.data_type like '%JSON%')"
    ).fetchall()


def _leaks_through_sql(db: Path) -> dict[str, list[str]]:
    """Which secrets each table.column holds, read through SQL (decompressed by DuckDB)."""
    found: dict[str, list[str]] = {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select count(*) from spans").fetchone()
        assert rows is not None and rows[0] >= 2 * VOLUME
        for table, column in _text_columns(con):
            for name, secret in SECRETS.items():
                (hits,) = con.execute(
                    f'select count(*) from "{table}" where contains("{column}"::varchar, ?) '
                    f'or contains(replace("{column}"::varchar, \' \', \'\'), ?)',
                    [secret, secret.replace(" ", "")],
                ).fetchone() or (0,)
                if hits:
                    found.setdefault(f"{table}.{column}", []).append(name)
    finally:
        con.close()
    return found


@pytest.fixture
def redaction_off() -> Iterator[None]:
    redaction.configure_redaction(enabled=False)
    try:
        yield
    finally:
        redaction.configure_redaction()


def test_the_sql_scan_finds_every_secret_stored_at_volume(tmp_path: Path, redaction_off: None) -> None:
    """With redaction off, the scan through SQL finds every seeded secret among 5,000 agent
    runs, in the columns that carry them: it can see what a byte scan of the file may not."""
    db = tmp_path / "unredacted.duckdb"
    _seed_at_volume(db)
    found = _leaks_through_sql(db)
    assert sorted({name for names in found.values() for name in names}) == sorted(SECRETS)
    assert {"spans.attributes", "logs.message", "logs.attributes"} <= set(found)


def test_seeded_secrets_are_absent_from_every_text_column_at_volume(tmp_path: Path) -> None:
    """After 5,000 agent runs, no seeded secret is in any VARCHAR or JSON column of any
    table (read through SQL), nor in the file's bytes."""
    db = tmp_path / "volume.duckdb"
    _seed_at_volume(db)
    assert _leaks_through_sql(db) == {}
    assert _leaks(db.read_bytes()) == []
