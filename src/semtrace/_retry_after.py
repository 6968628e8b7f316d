"""The one parser of ``Retry-After`` (RFC 9110): a leaf module that imports nothing of
semtrace's, so the store's writers and the telemetry's error facts both use it."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["retry_after_seconds"]


def retry_after_seconds(value: Any, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: a number of seconds or an HTTP date
    (``now`` is the wall-clock time the date is measured from, default ``time.time()``);
    ``None`` when it is neither. Never negative."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
