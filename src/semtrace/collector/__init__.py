"""The collector (``semtrace serve``): OTLP/HTTP in, one DuckDB file, read-only SQL out.

``server`` runs it, ``_http`` answers requests, ``otlp_decode`` turns OTLP into domain
records, ``ingest`` group-commits them, ``sql`` sandboxes queries, ``announce`` tells other
processes who owns the file and ``client`` is how they talk to it.
"""
