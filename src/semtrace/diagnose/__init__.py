"""Diagnosis and self-healing: why a step failed, what to do, and (opt-in) doing it.

``semtrace.diagnose.run()`` finds failures in the store, fingerprints them, packs their
redacted context, asks a provider (offline ``rules`` by default, ``openai`` or ``anthropic``)
and stores validated :class:`Diagnosis` rows. ``semtrace.heal`` applies the safe remediations
at runtime, within an allowlist and budgets.
"""

from __future__ import annotations

from semtrace.diagnose.extract import Failure, extract_failures
from semtrace.diagnose.fingerprint import fingerprint
from semtrace.diagnose.heal import HealPolicy, heal
from semtrace.diagnose.models import Action, Category, Diagnosis, Evidence, Remediation
from semtrace.diagnose.providers import Budget, get_provider
from semtrace.diagnose.run import Diagnoses, run

__all__ = [
    "Action",
    "Budget",
    "Category",
    "Diagnoses",
    "Diagnosis",
    "Evidence",
    "Failure",
    "HealPolicy",
    "Remediation",
    "extract_failures",
    "fingerprint",
    "get_provider",
    "heal",
    "run",
]
