"""Secrets and personal data seeded in every field an agent can set never reach the database
file, nor the prompt sent to an LLM for a diagnosis."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import semtrace
from semtrace.store.database import _open_stores
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
    for store in list(_open_stores.values()):
        store.close()
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
