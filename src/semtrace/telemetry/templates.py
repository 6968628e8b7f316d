"""Templates: a sentence with the values that vary between occurrences masked.

``group by template`` should count kinds of failure, and a failure fingerprint should tell
two causes apart. So the values that change from one occurrence to the next (numbers, ids,
quoted values, emails, URLs, times) become placeholders, while what names the cause stays:
HTTP status codes ("returned 503"), error codes (``ORA-00942``, ``SQLSTATE 40001``,
``[Errno 13]``), the names of keys, fields and attributes ("has no attribute 'strip'",
"KeyError: 'last_updated'") and ``{placeholders}`` the caller wrote on purpose.
"""

from __future__ import annotations

import re

__all__ = ["MAX_TEMPLATE_CHARS", "mask_values"]

MAX_TEMPLATE_CHARS = 300

# What is kept as written: the caller's placeholders, codes that name a kind of failure,
# and quoted names of schema things (a key, a field, an attribute, a column...). Each kind is
# searched only when a character it needs is in the text: most sentences skip them all.
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.]*\}")
_CODE = re.compile(
    r"""
      (?:HTTP(?:/[\d.]+)?|status(?:[ _]code)?|code|returned|answered|responded|got|error
         |with)[\s:=]*[1-5]\d\d\b                       # returned 503, HTTP 429
    | \b[1-5]\d\d[ ](?=[A-Z][a-z])                        # 503 Service Unavailable
    | \b[A-Z]{2,}-\d{3,5}\b                               # ORA-00942, TNS-12541
    | \[?Errno[ ]-?\d+\]?|errno[ =:]*-?\d+               # [Errno 13]
    | SQLSTATE[\s:=\[]*[0-9A-Z]{5}\]?                    # SQLSTATE 40001
    """,
    re.X | re.I,
)
_NAME = re.compile(
    r"""(?:attribute|key|field|column|table|relation|parameter|argument|property|module
         |header|index|named)[ ]['"][^'"\s]{1,60}['"]""",  # has no attribute 'strip'
    re.X | re.I,
)
_DIGIT = re.compile(r"\d")
# (pattern, placeholder, a substring the text must contain for the pattern to be tried)
_MASKS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>", "@"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>", "://"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
        "-",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        ),
        "<time>",
        "-",
    ),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>", "0"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>", ""),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>", ""),
    (re.compile(r"\b[A-Za-z]*[-_]?\d(?:[\w-]|[.:]\d)*"), "<n>", ""),  # 42, INV-7, 1.5, v2
)
_ONE_QUOTED = re.compile(r"""\s*(['"])[^'"\s]{1,60}\1\s*""")  # KeyError: 'last_updated'
_SPACE = re.compile(r"\s+")


def _mask(text: str, digits: bool, quotes: bool) -> str:
    for pattern, repl, needs in _MASKS:
        if repl == "<str>":
            if quotes:
                text = pattern.sub(repl, text)
        elif (digits or repl in ("<email>", "<url>")) and needs in text:
            text = pattern.sub(repl, text)
    return text


def mask_values(text: str | None) -> str:
    """``text`` with the values that vary between occurrences replaced by placeholders."""
    if not text:
        return ""
    digits = _DIGIT.search(text) is not None
    quotes = "'" in text or '"' in text
    if not (digits or quotes or "@" in text or "://" in text):
        return _SPACE.sub(" ", text).strip()[:MAX_TEMPLATE_CHARS]  # nothing that varies
    if quotes and _ONE_QUOTED.fullmatch(text):  # the whole message is one name (a key)
        return text.strip()[:MAX_TEMPLATE_CHARS]
    keep = []
    if "{" in text:
        keep += [m.span() for m in _PLACEHOLDER.finditer(text)]
    if digits:
        keep += [m.span() for m in _CODE.finditer(text)]
    if quotes:
        keep += [m.span() for m in _NAME.finditer(text)]
    parts: list[str] = []
    last = 0
    for start, end in sorted(keep):
        if start < last:
            continue
        parts.append(_mask(text[last:start], digits, quotes))
        parts.append(text[start:end])
        last = end
    parts.append(_mask(text[last:], digits, quotes))
    return _SPACE.sub(" ", "".join(parts)).strip()[:MAX_TEMPLATE_CHARS]
