"""Small wording helpers shared by the CLI, the demo's story and the MCP server's text."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 failure``, ``3 failures`` (``many``: an irregular plural, ``3 diagnoses``)."""
    return f"{count} {one if count == 1 else many or one + 's'}"
