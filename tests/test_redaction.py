"""Redaction: each kind of secret is replaced by a marker with a short hash; the rest stays."""

from __future__ import annotations

import re

import pytest

from semtrace import redaction
from semtrace.redaction import Redactor

MARKER = re.compile(r"\[REDACTED:([a-z_]+):([0-9a-f]{6})\]")

SECRETS = {
    "openai_key": "sk-proj-Abc123DEF456ghi789JKLmno",
    "anthropic_key": "sk-ant-api03-Zyx987Wvu654Tsr321Qpo",
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
    "github_token": "ghp_" + "a1B2c3D4e5" * 4,
    "email": "alice.smith@example.com",
    "card": "4111 1111 1111 1111",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_kind_of_secret_is_replaced_with_its_kind(kind: str) -> None:
    """A secret of each built-in kind is replaced by a marker naming that kind."""
    secret = SECRETS[kind]
    out = Redactor().redact_text(f"before {secret} after")
    assert secret not in out
    m = MARKER.search(out)
    assert m is not None and m.group(1) == kind
    assert out.startswith("before ") and out.endswith(" after")


def test_bearer_token_url_password_and_assignment_keep_their_context() -> None:
    """Only the secret part of a bearer header, a URL and a password=... is replaced."""
    r = Redactor()
    assert r.redact_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload").startswith(
        "Authorization: Bearer [REDACTED:bearer:"
    )
    url = r.redact_text("postgres://bob:hunter22@db.internal:5432/app")
    assert url.startswith("postgres://bob:[REDACTED:url_password:") and "hunter22" not in url
    assert url.endswith("@db.internal:5432/app")
    kv = r.redact_text("login with password='s3cr3t!' now")
    assert "s3cr3t!" not in kv and kv.startswith("login with password='[REDACTED:password:")


def test_equal_secrets_share_a_hash_and_different_ones_do_not() -> None:
    """Redacted values keep a short hash so equal secrets still group."""
    r = Redactor()
    a1 = MARKER.search(r.redact_text("to bob@example.com"))
    a2 = MARKER.search(r.redact_text("cc bob@example.com!"))
    b = MARKER.search(r.redact_text("to eve@example.com"))
    assert a1 and a2 and b
    assert a1.group(2) == a2.group(2) != b.group(2)


def test_numbers_that_fail_luhn_and_timestamps_are_kept() -> None:
    """Digit runs that are not valid card numbers (Luhn) are left alone."""
    r = Redactor()
    text = "order 4111 1111 1111 1112 at 1764300000000000000 ns, id 5555"
    assert r.redact_text(text) == text


def test_plain_text_is_returned_unchanged() -> None:
    """Text without secrets comes back identical."""
    text = "the procurement agent matched INV-7 to PO-1 after 3 tries (gpt-4o-mini)"
    assert Redactor().redact_text(text) == text


def test_values_under_sensitive_keys_are_replaced_whole() -> None:
    """A value under a key such as password or api_key is a secret whatever it looks like."""
    r = Redactor()
    out = r.redact_value(
        {"user": "bob", "password": "x", "nested": {"api_key": 12345678, "note": "ok"}}
    )
    assert out["user"] == "bob" and out["nested"]["note"] == "ok"
    assert out["password"].startswith("[REDACTED:password:")
    assert out["nested"]["api_key"].startswith("[REDACTED:api_key:")


def test_allowlisted_keys_and_custom_patterns() -> None:
    """Allowlisted keys keep their values; configured patterns are redacted with their kind."""
    r = Redactor(patterns={"employee_id": r"EMP-\d{6}"}, allow_keys={"support_email"})
    out = r.redact_value(
        {"support_email": "help@example.com", "who": "EMP-123456 via bob@example.com"}
    )
    assert out["support_email"] == "help@example.com"
    assert "EMP-123456" not in out["who"] and "[REDACTED:employee_id:" in out["who"]
    assert "bob@example.com" not in out["who"]


def test_redact_attributes_returns_the_same_object_when_clean() -> None:
    """The store's fast path copies a mapping only when something was redacted."""
    r = Redactor()
    clean = {"gen_ai.request.model": "gpt-4o-mini", "tokens": 12, "tags": ("a", "b")}
    assert r.redact_attributes(clean) is clean
    dirty = {"model": "gpt-4o", "contact": "bob@example.com", "card": 4111111111111111}
    out = r.redact_attributes(dirty)
    assert out["model"] == "gpt-4o"
    assert str(out["contact"]).startswith("[REDACTED:email:")
    assert str(out["card"]).startswith("[REDACTED:card:")
    assert r.redact_attributes(dirty) == out  # served from the cache, same verdict


def test_module_functions_use_the_configured_redactor() -> None:
    """configure_redaction replaces what redact_text/redact_value apply process-wide."""
    before = redaction.get_redactor()
    try:
        redaction.configure_redaction(patterns={"ticket": r"TCK-\d+"})
        assert redaction.redact_text("see TCK-42").startswith("see [REDACTED:ticket:")
        redaction.configure_redaction(enabled=False)
        assert redaction.redact_value({"password": "x"}) == {"password": "x"}
    finally:
        redaction.use_redactor(before)


def test_remembered_clean_values_never_let_a_secret_through() -> None:
    """After clean maps are remembered, a map mixing those values with secrets, big card-like
    ints, lists and sensitive keys is redacted exactly as a fresh redactor redacts it."""
    warm = Redactor()
    clean = {"model": "gpt-4o-mini", "tokens": 12, "tags": ("stop", "length"), "ratio": 0.5}
    for _ in range(3):
        assert warm.redact_attributes(clean) is clean
    mixed = [
        {**clean, "tokens": 4111111111111111},
        {**clean, "tags": ("stop", "bob@example.com")},
        {**clean, "api_key": "gpt-4o-mini"},
        {**clean, "tags": ["stop", SECRETS["openai_key"]], "nested": {"password": "stop"}},
        {"model": SECRETS["aws_key"], "tokens": 12, "tags": ("stop", "length")},
    ]
    for attrs in mixed:
        expected = Redactor().redact_attributes(attrs)
        assert warm.redact_attributes(attrs) == expected
        assert expected != attrs


def test_memory_of_clean_values_stays_bounded_under_unique_values() -> None:
    """Maps of ever-new values under plain keys are all returned unchanged, and the set of
    values remembered as clean never grows past its bound (plus one map's values)."""
    r = Redactor()
    for i in range(3 * redaction.CACHE_MAX):
        attrs = {"call.id": f"call_{i:012x}", "tokens": i, "model": "gpt-4o-mini"}
        assert r.redact_attributes(attrs) is attrs
        assert r.remembered["clean_values"] <= redaction.CACHE_MAX + len(attrs)
    assert max(r.remembered.values()) <= redaction.CACHE_MAX + 3
