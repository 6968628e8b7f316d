"""Fixtures shared with other suites: the stand-in LLM server of the diagnose tests."""

from __future__ import annotations

from tests.diagnose.conftest import fake_llm

__all__ = ["fake_llm"]
