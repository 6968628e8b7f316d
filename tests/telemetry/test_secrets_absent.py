"""Seeded secrets never reach the database file, whatever path they take to the store."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import pytest

import semtrace
from semtrace.store.database import open_store
from semtrace.store.model import LogRecord, SpanEventRecord, SpanRecord
from semtrace.tracer.setup import STATE

SECRETS = {
    "openai": "sk-proj-Q9w8E7r6T5y4U3i2O1pLkJh",
    "anthropic": "sk-ant-api03-Mn8Bv7Cx6Zl5Kj4Hg3Fd",
    "aws": "AKIAZ7Y6X5W4V3U2T1S0",
    "github": "ghp_" + "Zq7Rw3Ty9Ui1Op5As2Df8Gh4Jk6Lz0XcVbNm",
    "email": "carol.secret-owner@example.org",
    "card": "5555555555554444",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ",
    "url_password": "Tr0ub4dor-and-3",
    "password_fact": "correct-horse-battery",
}
# Stored as is: proves the byte search can see strings of this size in this file format.
CANARY = "canary-visible-8f3a2b1c9d"


def _file_bytes(db: Path) -> bytes:
    data = b""
    for path in (db, Path(f"{db}.wal")):
        if path.exists():
            data += path.read_bytes()
    return data


def _seed(db: Path) -> None:
    log = semtrace.get_logger(agent="billing")
    app = logging.getLogger("tests.secrets")
    app.setLevel(logging.INFO)

    @semtrace.tool
    def charge(card_number: str, password: str) -> None:
        """Charge the customer's card."""
        raise PermissionError(f"gateway rejected key {SECRETS['anthropic']}")

    @semtrace.agent("billing")
    def run() -> None:
        with semtrace.step("notify", attributes={"customer.email": SECRETS["email"]}):
            log.info(
                f"calling API with Authorization: Bearer {SECRETS['bearer']}",
                note=f"key={SECRETS['openai']}",
                password=SECRETS["password_fact"],
                canary=CANARY,
            )
            log.warning("token leaked", leaked=SECRETS["github"])
            app.warning("db at postgres://svc:%s@db:5432/x", SECRETS["url_password"])
        charge(SECRETS["card"], password=SECRETS["password_fact"])

    with contextlib.suppress(PermissionError):
        run()
    log.failure(action="rotate the key", cause=f"AWS key {SECRETS['aws']} is still active")
    semtrace.force_flush()

    # A foreign span and log written straight to the store, as the collector does for OTLP.
    now = time.time_ns()
    open_store(db).write_spans(
        [
            SpanRecord(
                trace_id="a" * 32,
                span_id="b" * 16,
                parent_span_id=None,
                name="chat gpt-4o",
                kind="CLIENT",
                start_ns=now,
                end_ns=now + 1000,
                status_code="ERROR",
                status_message=f"401 for key {SECRETS['openai']}",
                attributes={
                    "gen_ai.input.messages": f"my card is {SECRETS['card']}",
                    "http.request.header.authorization": SECRETS["bearer"],
                },
                events=(
                    SpanEventRecord(
                        "exception",
                        now,
                        {"exception.message": f"mail {SECRETS['email']}", "exception.type": "E"},
                    ),
                ),
            )
        ]
    )
    open_store(db).write_logs(
        [
            LogRecord(
                time_ns=now, message=f"aws {SECRETS['aws']}", attributes={"k": SECRETS["github"]}
            )
        ]
    )


def test_seeded_secrets_are_absent_from_the_database_and_wal(db_path: Path) -> None:
    """No seeded secret appears in the raw bytes of the DuckDB file or its WAL, before or
    after the checkpoint, while a canary stored next to them does."""
    semtrace.configure(service_name="secrets", db=db_path, batch_interval_s=0.2)
    try:
        _seed(db_path)
        before_checkpoint = _file_bytes(db_path)
        con = semtrace.connect(db_path)
        logs = con.execute("select count(*) from logs").fetchone()
        spans = con.execute("select count(*) from spans").fetchone()
        redacted = con.execute(
            "select count(*) from logs where message like '%[REDACTED:%'"
            " or attributes like '%[REDACTED:%'"
        ).fetchone()
        con.close()
    finally:
        semtrace.shutdown()
        STATE.settings = None
    after_checkpoint = _file_bytes(db_path)
    assert logs is not None and logs[0] >= 7
    assert spans is not None and spans[0] == 4
    assert redacted is not None and redacted[0] >= 5
    for data in (before_checkpoint, after_checkpoint):
        assert CANARY.encode() in data
        leaked = [name for name, secret in SECRETS.items() if secret.encode() in data]
        assert leaked == []


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_seeded_secret_is_detected_by_redaction(name: str) -> None:
    """Every seeded secret is one the redactor recognises in free text or under its key."""
    from semtrace.redaction import redact_value

    secret = SECRETS[name]
    text = {
        "bearer": f"Authorization: Bearer {secret}",
        "url_password": f"postgres://svc:{secret}@db:5432/x",
    }.get(name, f"value {secret} here")
    key = "password" if name == "password_fact" else "note"
    assert secret not in str(redact_value(text, key))


def test_secrets_sent_over_otlp_to_the_collector_are_absent_from_its_file(
    tmp_path: Path,
) -> None:
    """Spans and logs a foreign process sends over OTLP/HTTP are redacted before storage."""
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    from semtrace.collector.server import Collector, CollectorConfig
    from tests.collector.conftest import kv, post, span_request

    db = tmp_path / "collector.duckdb"
    collector = Collector(CollectorConfig(db=str(db), port=0))
    collector.start()
    try:
        spans = span_request(
            [
                {
                    "name": "execute_tool charge",
                    "status": 2,
                    "message": f"declined {SECRETS['card']}",
                    "attributes": {
                        "gen_ai.tool.call.arguments": f'{{"key": "{SECRETS["openai"]}"}}',
                        "user.email": SECRETS["email"],
                        "note": CANARY,
                    },
                }
            ]
        )
        assert post(collector.url, "/v1/traces", spans.SerializeToString()).status == 200
        logs = logs_service_pb2.ExportLogsServiceRequest()
        record = logs.resource_logs.add().scope_logs.add().log_records.add()
        record.time_unix_nano = 1_700_000_000_000_000_000
        record.severity_number = 17
        record.body.string_value = f"auth with {SECRETS['github']}"
        record.attributes.append(kv("aws", SECRETS["aws"]))
        assert post(collector.url, "/v1/logs", logs.SerializeToString()).status == 200
    finally:
        collector.stop()
    data = _file_bytes(db)
    assert CANARY.encode() in data
    assert [name for name, secret in SECRETS.items() if secret.encode() in data] == []
