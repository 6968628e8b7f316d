"""The collector (``semtrace serve``): OTLP/HTTP in, one DuckDB file, read-only SQL out.

``server`` runs it, ``_http`` dispatches requests to routes, ``otlp_decode`` turns OTLP into
domain records, ``ingest`` group-commits them, ``sql`` sandboxes queries, ``records`` takes
diagnoses and heal attempts, ``announce`` tells other processes who owns the file and
``client`` is how they talk to it. ``extensions`` is how other modules add routes and
post-commit hooks without editing any of these.
"""
