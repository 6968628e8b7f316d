"""Every attribute key and operation name is a constant defined once, in semtrace.semconv."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import semtrace
from semtrace import semconv as sc

SRC = Path(semtrace.__file__).parent


def test_each_semconv_constant_is_assigned_once() -> None:
    """No key is declared twice (a second copy drifts from the first)."""
    tree = ast.parse((SRC / "semconv.py").read_text())
    names = Counter(
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    )
    assert [name for name, n in names.items() if n > 1] == []


def test_the_llm_operations_are_spelled_out_only_in_semconv() -> None:
    """Views, queries and the demo summary take the LLM operations from semconv, so a new
    operation counts as an LLM call everywhere at once."""
    spelled = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "semconv.py" and "'text_completion'" in path.read_text()
    ]
    assert spelled == []
    assert sc.LLM_OPERATIONS_SQL == "('chat', 'text_completion', 'generate_content', 'embeddings')"
