"""Redaction: secrets and personal data are replaced before anything is stored or sent.

A redacted value keeps its kind and a short keyed hash, ``[REDACTED:email:3f2a1c]``, so equal
secrets still group (``group by`` works, a diagnosis can say "the same key failed 40 times")
while the value itself never reaches the database file or an LLM.

The hash is keyed by a random secret of the database (``X.duckdb.redact-key`` next to database
``X.duckdb``, created once with owner-only permissions, never stored in the telemetry), so a
marker cannot be matched against hashes of candidate emails; every process writing the same
file (agents, its owner, a collector) reads the same key, so markers group across them. A
process that writes no local file uses a random key of its own; ``SEMTRACE_REDACT_SALT``
replaces either with a secret the user shares (equal hashes across machines).

Detected by default: OpenAI (``sk-...``) and Anthropic (``sk-ant-...``) keys, AWS access key
ids (``AKIA...``), GitHub tokens (``ghp_...``, ``github_pat_...``), bearer/basic credentials,
passwords in URLs, ``password=...``-style assignments, emails and card numbers (Luhn-checked);
values under sensitive keys (``password``, ``api_key``, ``authorization``...) are redacted
whole. Patterns are configurable and keys can be allowlisted::

    from semtrace import redaction
    redaction.configure_redaction(patterns={"employee_id": r"EMP-\\d{6}"}, allow_keys={"email"})
    redaction.redact_text("mail bob@example.com")   # 'mail [REDACTED:email:…]'
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import filterfalse
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_MAX",
    "DEFAULT_SENSITIVE_KEYS",
    "ENV_REDACT",
    "ENV_REDACT_SALT",
    "KEY_SUFFIX",
    "Redactor",
    "configure_redaction",
    "database_key",
    "get_redactor",
    "key_path",
    "redact_mapping",
    "redact_text",
    "redact_value",
    "use_database",
    "use_redactor",
]

ENV_REDACT = "SEMTRACE_REDACT"  # "0" turns redaction off (not recommended)
ENV_REDACT_SALT = "SEMTRACE_REDACT_SALT"  # a shared secret keying the hash instead of the file's
KEY_SUFFIX = ".redact-key"  # the database's hash key, next to it: X.duckdb.redact-key
_KEY_BYTES = 32

# Keys whose values are secrets whatever they look like (matched on the last key segment).
DEFAULT_SENSITIVE_KEYS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|"
    r"access[_-]?key|secret[_-]?key|private[_-]?key|token|access[_-]?token|"
    r"refresh[_-]?token|auth[_-]?token|id[_-]?token|authorization|cookie|set[_-]?cookie|"
    r"credentials?|session[_-]?secret|x[_-]?api[_-]?key"
)

# Characters no secret match may include, so a replacement never splits a JSON escape.
_NOT = r"\s\"'\\"

# (kind, regex, group holding the secret or 0, characters of which one must be in the text,
# lowercase substrings of which one must be in it). Most text fails these gates, and a `in`
# test (a single character is a memchr) is far cheaper than a regex scan.
_BUILTIN: tuple[tuple[str, str, int, str, tuple[str, ...]], ...] = (
    ("anthropic_key", r"sk-ant-[A-Za-z0-9_\-]{16,}", 0, "-", ("sk-ant-",)),
    ("openai_key", r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}", 0, "-", ("sk-",)),
    ("aws_key", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0, "A", ("akia", "asia")),
    (
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        0,
        "_",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    ("bearer", rf"(?i)\b(?:bearer|basic)\s+([^{_NOT},;]{{8,}})", 1, "", ("bearer", "basic")),
    (
        "url_password",
        rf"[A-Za-z][A-Za-z0-9+.\-]*://[^{_NOT}:/@]+:([^{_NOT}/@]+)@",
        1,
        "@",
        ("://",),
    ),
    (
        "password",
        rf"(?i)(?<!REDACTED:)\b(?:password|passwd|pwd|secret|api[_-]?key|token)"
        rf"\s*[=:]\s*(?:\\?['\"])?([^{_NOT},;&]{{3,}})",
        1,
        "=:",
        ("pass", "pwd", "secret", "api", "token"),
    ),
    (
        "email",
        r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
        0,
        "@",
        (),
    ),
    ("card", r"(?<![\w.])[2-6]\d{3}(?:[ \-]?\d){9,15}(?!\w|\.\d)", 0, "23456", ()),
)
# Every card number starts like this; a scan for it is cheaper than the full pattern.
_CARD_GATE = re.compile(r"[2-6]\d{3}[ \-]?\d{4}")


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class _Rule:
    kind: str
    regex: re.Pattern[str]
    group: int
    chars: str  # one of these characters must be present (empty = no condition)
    triggers: tuple[str, ...]  # empty = always run


class Redactor:
    """Replaces secrets in text and values; one instance holds the compiled configuration."""

    def __init__(
        self,
        *,
        patterns: Mapping[str, str] | None = None,
        allow_keys: Iterable[str] = (),
        sensitive_keys: str = DEFAULT_SENSITIVE_KEYS,
        builtin: bool = True,
        salt: str | bytes | None = None,
        enabled: bool = True,
    ) -> None:
        """``salt`` keys the hash; without it, ``SEMTRACE_REDACT_SALT`` or a random key of
        this redactor (see :func:`use_database` for the key every writer of a file shares)."""
        rules = [_Rule(k, re.compile(p), g, c, t) for k, p, g, c, t in _BUILTIN] if builtin else []
        for kind, pattern in (patterns or {}).items():
            rules.append(_Rule(kind, re.compile(pattern), 0, "", ()))
        self.rules: tuple[_Rule, ...] = tuple(rules)
        self._plan = tuple((r, r.chars, r.triggers, r.kind == "card") for r in self.rules)
        self.allow_keys = frozenset(allow_keys)
        self.enabled = enabled
        # A key given here (or by SEMTRACE_REDACT_SALT) is kept; otherwise use_key() sets it.
        self._fixed_key = _as_key(salt) if salt is not None else _env_key()
        self._key = self._fixed_key or _process_key()
        self._sensitive_key = re.compile(rf"(?i)(?:^|[._\-\s])(?:{sensitive_keys})$")
        # Attribute keys and short values repeat from span to span: remember the verdicts.
        self._key_kind: dict[str, int] = {}
        self._seen: dict[str, str] = {}
        # Keys known plain and values known clean under a plain key (strings, tuples of
        # strings, ints below card length): a map made only of these is returned at C speed.
        self._plain_keys: set[str] = set()
        self._clean: set[Any] = set()

    @property
    def remembered(self) -> dict[str, int]:
        """How many entries each of its memories holds (each is bounded by ``CACHE_MAX``)."""
        return {
            "verdicts": len(self._seen),
            "clean_values": len(self._clean),
            "key_kinds": len(self._key_kind),
            "plain_keys": len(self._plain_keys),
        }

    def use_key(self, key: bytes) -> None:
        """Key the hash with ``key`` (a database's), unless this redactor was given its own."""
        if self._fixed_key is None and key != self._key:
            self._key = key
            self._seen.clear()  # remembered verdicts hold markers made with the old key

    # -- text --------------------------------------------------------------------------------
    def marker(self, kind: str, secret: str) -> str:
        """The replacement for ``secret``: its kind and a short keyed hash (HMAC-SHA256)."""
        digest = hmac.digest(self._key, secret.encode("utf-8", "replace"), "sha256")
        return f"[REDACTED:{kind}:{digest[:3].hex()}]"

    def _apply(self, rule: _Rule, text: str) -> str:
        def replace(m: re.Match[str]) -> str:
            secret = m.group(rule.group)
            if rule.kind == "card" and not _luhn_ok(secret):
                return m.group(0)
            if secret.startswith("[REDACTED:"):
                return m.group(0)
            whole = m.group(0)
            if rule.group == 0:
                return self.marker(rule.kind, secret)
            start, end = m.span(rule.group)
            base = m.start(0)
            return whole[: start - base] + self.marker(rule.kind, secret) + whole[end - base :]

        return rule.regex.sub(replace, text)

    def redact_text(self, text: str) -> str:
        """``text`` with every detected secret replaced by its marker."""
        if not self.enabled or not text:
            return text
        low: str | None = None
        for rule, chars, triggers, is_card in self._plan:
            if chars:
                for char in chars:
                    if char in text:
                        break
                else:
                    continue
            if triggers:
                if low is None:
                    low = text.lower()
                for trigger in triggers:
                    if trigger in low:
                        break
                else:
                    continue
            elif is_card and _CARD_GATE.search(text) is None:
                continue
            redacted = self._apply(rule, text)
            if redacted != text:
                text, low = redacted, None
        return text

    def redact_repeated(self, text: str) -> str:
        """``redact_text`` for values that recur (templates, attribute values): the verdict
        for a short text is remembered, so a repeat costs one dictionary lookup."""
        if not self.enabled or len(text) < 6:
            return text
        verdict = self._seen.get(text)
        if verdict is None:
            verdict = self._remember(text)
        return text if verdict is _CLEAN else verdict

    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` are secrets whatever they look like."""
        return key not in self.allow_keys and bool(self._sensitive_key.search(key))

    # -- values ------------------------------------------------------------------------------
    def redact_value(self, value: Any, key: str | None = None, *, strings: bool = True) -> Any:
        """``value`` with secrets replaced, recursing into mappings and sequences; values
        under allowlisted keys are kept, values under sensitive keys are replaced whole.
        ``strings=False`` applies the key rules only, leaving other strings as they are, for a
        caller that scans the serialised whole once instead (content capture)."""
        if not self.enabled:
            return value
        if key is None and not strings and type(value) is dict:  # content capture's usual
            return self._keys_only(value)
        if key is not None:
            kind = self._key_kind.get(key)
            if kind is None:
                kind = self._classify(key)
            if kind == _ALLOW:
                return value
            if kind == _SENSITIVE and value is not None and value != "":
                if isinstance(value, str) and value.startswith("[REDACTED:"):
                    return value
                if not isinstance(value, Mapping | list | tuple):
                    return self.marker(_kind_of_key(key), str(value))
        if isinstance(value, str):
            return self.redact_repeated(value) if strings else value
        if isinstance(value, Mapping):
            if not strings:
                return self._keys_only(value)
            return {k: self.redact_value(v, str(k), strings=strings) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v, strings=strings) for v in value]
        return value

    def _keys_only(self, mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
        """``redact_value(mapping, strings=False)``: the same object when no key rule applies
        (the usual call's arguments: plain names, scalar values), without copying it."""
        out: dict[Any, Any] | None = None
        key_kind = self._key_kind
        for k, v in mapping.items():
            key = k if type(k) is str else str(k)
            kind = key_kind.get(key)
            if kind is None:
                kind = self._classify(key)
            if kind == _ALLOW or (kind == _PLAIN and type(v) in _SCALARS):
                continue
            new = self.redact_value(v, key, strings=False)
            if new is not v:
                if out is None:
                    out = dict(mapping)
                out[k] = new
        return mapping if out is None else out

    def redact_attributes(self, attrs: Mapping[str, Any]) -> Mapping[str, Any]:
        """``attrs`` with secrets replaced; the same object when nothing needed replacing.

        The store's write path: key verdicts and short values are cached, so the usual span
        (a dozen repeated strings and numbers) costs a few dictionary lookups.
        """
        if not self.enabled or not attrs:
            return attrs
        try:
            if self._plain_keys.issuperset(attrs):
                values = attrs.values()
                if self._clean.issuperset(values):
                    return attrs
                # Plain keys: only the values not yet known clean need a look.
                if self._all_clean(list(filterfalse(self._clean.__contains__, values))):
                    return attrs
        except TypeError:  # an unhashable value (a list, a map): the full walk below
            pass
        out: dict[str, Any] | None = None
        key_kind = self._key_kind
        seen = self._seen
        plain_keys = self._plain_keys
        clean = self._clean
        if len(clean) >= CACHE_MAX:
            clean.clear()
        for key, value in attrs.items():
            kind = key_kind.get(key)
            if kind is None:
                kind = self._classify(str(key))
            if kind == _PLAIN:
                if type(key) is str and len(plain_keys) < CACHE_MAX:  # memory stays bounded
                    plain_keys.add(key)
                vtype = type(value)
                if vtype is str:
                    if len(value) < 6:  # shorter than any secret the rules detect
                        clean.add(value)
                        continue
                    verdict = seen.get(value)
                    if verdict is None:
                        verdict = self._remember(value)
                    if verdict is _CLEAN:
                        if len(value) <= 256:
                            clean.add(value)
                        continue
                    new = verdict
                elif vtype is float or vtype is bool:
                    continue
                elif vtype is int and value < 10**12:
                    # Anything equal to a small int (a bool, a float) is left alone too.
                    clean.add(value)
                    continue
                else:
                    new = self._plain(value)
                    if (
                        new is value
                        and vtype is tuple
                        and all(type(v) is str and len(v) <= 256 for v in value)
                    ):
                        clean.add(value)
            elif kind == _ALLOW:
                continue
            else:
                new = self.redact_value(value, str(key))
            if new is not value:
                if out is None:
                    out = dict(attrs)
                out[key] = new
        return attrs if out is None else out

    def _all_clean(self, values: list[Any]) -> bool:
        """Whether none of ``values`` (found under plain keys) needs redacting; the clean ones
        are remembered as the walk in :meth:`redact_attributes` remembers them."""
        clean = self._clean
        if len(clean) + len(values) > CACHE_MAX:
            return False  # the walk clears the set first
        seen = self._seen
        for value in values:
            vtype = type(value)
            if vtype is str:
                if len(value) < 6:
                    clean.add(value)
                    continue
                verdict = seen.get(value)
                if verdict is None:
                    verdict = self._remember(value)
                if verdict is not _CLEAN:
                    return False
                if len(value) <= 256:
                    clean.add(value)
            elif vtype is float or vtype is bool:
                continue
            elif vtype is int and value < 10**12:
                clean.add(value)
            else:
                if self._plain(value) is not value:
                    return False
                if vtype is tuple and all(type(v) is str and len(v) <= 256 for v in value):
                    clean.add(value)
        return True

    def _classify(self, key: str) -> int:
        if key in self.allow_keys:
            kind = _ALLOW
        elif self.is_sensitive_key(key):
            kind = _SENSITIVE
        else:
            kind = _PLAIN
        if len(self._key_kind) < CACHE_MAX:
            self._key_kind[key] = kind
        return kind

    def _remember(self, value: str) -> str:
        redacted = self.redact_text(value)
        verdict = _CLEAN if redacted == value else redacted
        if len(value) <= 256:
            if len(self._seen) >= CACHE_MAX:
                self._seen.clear()
            self._seen[value] = verdict
        return verdict

    def _plain(self, value: Any) -> Any:
        if type(value) is str:
            return self.redact_repeated(value)
        if type(value) is int:
            if value >= 10**12:  # a card number stored as a number
                text = str(value)
                redacted = self.redact_text(text)
                return value if redacted == text else redacted
            return value
        if isinstance(value, Mapping):
            return self.redact_attributes(value)
        if isinstance(value, list | tuple):
            for i, v in enumerate(value):
                new = self._plain(v)
                if new is not v:  # the first change: the rest is redacted into a new list
                    return [*value[:i], new, *(self._plain(w) for w in value[i + 1 :])]
            return value
        return value

    def redact_mapping(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``facts`` with secrets replaced (keys are kept)."""
        return {k: self.redact_value(v, k) for k, v in facts.items()}


_ALLOW, _SENSITIVE, _PLAIN = 0, 1, 2
_SCALARS = frozenset({str, int, float, bool, type(None)})  # no key inside them
_CLEAN = "\x00clean"  # the verdict for a value with nothing to redact (compared by identity)
CACHE_MAX = 8_192  # entries each of a redactor's memories holds at most


def _kind_of_key(key: str) -> str:
    last = re.split(r"[.\s]", key)[-1].lower().replace("-", "_")
    return last if re.fullmatch(r"[a-z_]{1,32}", last) else "secret"


def _enabled_from_env() -> bool:
    return os.environ.get(ENV_REDACT, "1").strip().lower() not in {"0", "false", "no", "off"}


# -- the hash key -------------------------------------------------------------------------------


def _as_key(salt: str | bytes) -> bytes:
    return salt if isinstance(salt, bytes) else salt.encode("utf-8")


def _env_key() -> bytes | None:
    value = os.environ.get(ENV_REDACT_SALT)
    return _as_key(value) if value else None


_PROCESS_KEY = secrets.token_bytes(_KEY_BYTES)


def _process_key() -> bytes:
    """A random key of this process: markers group within it, and nobody else can rebuild them."""
    return _PROCESS_KEY


def key_path(db: str | os.PathLike[str]) -> Path:
    """Where the hash key of database ``db`` lives (next to it, owner-only)."""
    resolved = Path(db).expanduser().resolve()  # one name per file, as the store resolves it
    return resolved.with_name(resolved.name + KEY_SUFFIX)


def database_key(db: str | os.PathLike[str]) -> bytes:
    """The random hash key of database ``db``: read from its key file, which the first caller
    creates (mode 0600). Concurrent first callers agree: the file appears whole, once."""
    path = key_path(db)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(_KEY_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd) as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO) and os.fstat(f.fileno()).st_uid == os.getuid():
            os.chmod(path, 0o600)  # copied or unpacked with looser permissions: tighten
        text = f.read().strip()
    if len(text) < 2 * 16:
        raise ValueError(f"{path} is not a semtrace redaction key (too short); delete it")
    return bytes.fromhex(text)


def use_database(db: str | os.PathLike[str] | None) -> Redactor:
    """Key the process-wide redactor with database ``db``'s key (created on first use), so
    this process's markers equal those of every other process writing the file; ``None`` (or
    ``:memory:``) means a random key of this process. ``SEMTRACE_REDACT_SALT`` takes
    precedence over both. Called by ``configure()`` and by the process that owns the file."""
    global _key_in_use
    key = _process_key()
    if db is not None and os.fspath(db) != ":memory:":
        try:
            key = database_key(db)
        except (OSError, ValueError) as exc:  # a read-only folder, a damaged key file
            logging.getLogger("semtrace").warning(
                "semtrace: no redaction key for %s (%s); this process uses a key of its own, "
                "so its markers will not group with other processes' markers",
                db,
                exc,
            )
    _key_in_use = key
    _redactor.use_key(key)
    return _redactor


_key_in_use = _process_key()  # what use_database() chose: kept by configure_redaction()
_redactor = Redactor(enabled=_enabled_from_env())


def get_redactor() -> Redactor:
    """The redactor in use (what the logger, the tracer and the store apply)."""
    return _redactor


def configure_redaction(
    *,
    patterns: Mapping[str, str] | None = None,
    allow_keys: Iterable[str] = (),
    sensitive_keys: str = DEFAULT_SENSITIVE_KEYS,
    builtin: bool = True,
    salt: str | bytes | None = None,
    enabled: bool | None = None,
) -> Redactor:
    """Replace the process-wide redactor: extra ``patterns`` (kind -> regex), ``allow_keys``
    whose values are never redacted, the sensitive-key regex, the hash key (``salt``: a
    secret of your own; by default the database's key stays in use)."""
    global _redactor
    _redactor = Redactor(
        patterns=patterns,
        allow_keys=allow_keys,
        sensitive_keys=sensitive_keys,
        builtin=builtin,
        salt=salt,
        enabled=_enabled_from_env() if enabled is None else enabled,
    )
    _redactor.use_key(_key_in_use)
    return _redactor


def use_redactor(redactor: Redactor) -> Redactor:
    """Make ``redactor`` the process-wide one; returns the one it replaces (so a test or a
    benchmark can put it back)."""
    global _redactor
    previous, _redactor = _redactor, redactor
    return previous


def redact_text(text: str) -> str:
    """``text`` with secrets replaced (use it on anything sent to an LLM, e.g. context packs)."""
    return _redactor.redact_text(text)


def redact_value(value: Any, key: str | None = None, *, strings: bool = True) -> Any:
    """``value`` (str, mapping, list...) with secrets replaced, honouring key rules
    (``strings=False``: the key rules only, see :meth:`Redactor.redact_value`)."""
    return _redactor.redact_value(value, key, strings=strings)


def redact_mapping(facts: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``facts`` with secrets replaced."""
    return _redactor.redact_mapping(facts)
