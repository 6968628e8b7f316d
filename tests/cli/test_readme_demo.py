"""The README describes what `make demo` (`semtrace demo`) really does with the dashboard."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from semtrace.cli import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_says_the_demo_serves_the_dashboard_at_its_default_url() -> None:
    """README: the demo serves (not opens) the dashboard at the URL of demo's default port."""
    help_text = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"}).stdout
    port = re.search(r"--port\s.*?default: (\d+)", help_text, flags=re.S)
    assert port is not None
    assert "opens the dashboard" not in README
    assert f"serves the dashboard at http://127.0.0.1:{port.group(1)}" in " ".join(README.split())
