"""``python -m semtrace.cli``: the same as the ``semtrace`` command."""

from semtrace.cli import main

main()
