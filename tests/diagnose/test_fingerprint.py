"""Fingerprints of semantic failures: one per cause, shared by occurrences of one cause."""

from __future__ import annotations

from pathlib import Path

import semtrace
from semtrace.diagnose.extract import extract_failures
from semtrace.diagnose.fingerprint import mask_values


def test_each_cause_of_one_action_has_its_own_fingerprint(configured: Path) -> None:
    """log.failure for one action and four causes: four fingerprints; repeats of a cause
    with other values (vendor, retry count) share theirs."""
    log = semtrace.get_logger(agent="procurement")
    action = "retrieve the vendor ID of {vendor}"
    log.failure(action=action, cause="the Last-updated field was null", vendor="ACME")
    log.failure(action=action, cause="the ERP returned 503 after 3 retries", vendor="ACME")
    log.failure(action=action, cause="the Last-updated field was null", vendor="Globex")
    log.failure(action=action, cause="the ERP returned 503 after 5 retries", vendor="Initech")
    log.failure(action=action, cause="the ERP returned 404", vendor="Hooli")
    log.error(f"retrieving the vendor ID of Hooli failed: ORA-12541 on db-{7}")
    semtrace.force_flush()
    con = semtrace.connect(configured)
    found = extract_failures(con)
    by_cause: dict[str, set[str]] = {}
    for f in found:
        by_cause.setdefault(f.details.get("cause") or f.message, set()).add(f.fingerprint)
    assert {cause: len(fps) for cause, fps in by_cause.items()} == {
        "the Last-updated field was null": 1,
        "the ERP returned 503 after 3 retries": 1,
        "the ERP returned 503 after 5 retries": 1,
        "the ERP returned 404": 1,
        "retrieving the vendor ID of Hooli failed: ORA-12541 on db-7": 1,
    }
    assert (
        by_cause["the ERP returned 503 after 3 retries"]
        == by_cause["the ERP returned 503 after 5 retries"]
    )
    distinct = {
        next(iter(by_cause[c]))
        for c in (
            "the Last-updated field was null",
            "the ERP returned 503 after 3 retries",
            "the ERP returned 404",
            "retrieving the vendor ID of Hooli failed: ORA-12541 on db-7",
        )
    }
    assert len(distinct) == 4


def test_masking_keeps_the_words_that_name_a_cause() -> None:
    """Status codes, error codes and the names of keys and attributes stay; values go."""
    assert mask_values("'last_updated'") == "'last_updated'"
    assert mask_values("'NoneType' object has no attribute 'strip'") == (
        "<str> object has no attribute 'strip'"
    )
    assert mask_values("HTTP 503 Service Unavailable for url: https://erp.example/v/42") == (
        "HTTP 503 Service Unavailable for url: <url>"
    )
    assert mask_values("[Errno 13] Permission denied: '/srv/in/inv-7.csv'") == (
        "[Errno 13] Permission denied: <str>"
    )
    assert mask_values("ERROR: deadlock detected SQLSTATE 40P01 in txn 991") == (
        "ERROR: deadlock detected SQLSTATE 40P01 in txn <n>"
    )
    assert mask_values("took 12.5 ms on attempt 3") == "took <n> ms on attempt <n>"
