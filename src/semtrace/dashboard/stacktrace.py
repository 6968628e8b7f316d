"""A Python stack trace made readable: the application's frames in full, runs of library
frames folded into one line, semtrace's own instrumentation frames left out.

Stack traces arrive as the text Python prints (``exception.stacktrace``); anything that does
not parse as one is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

__all__ = ["Frame", "Section", "fold", "frame_kind", "parse"]

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_HEADER = "Traceback (most recent call last):"
# What Python prints between the tracebacks of chained exceptions.
_CHAIN = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# semtrace modules that are application code from a user's point of view (the demo's agents).
_APP_PARTS = ("demo",)


@dataclass(frozen=True)
class Frame:
    """One frame: where, which function, the source line, and whose code it is
    (``app``, ``library`` or ``semtrace``)."""

    file: str
    line: int
    function: str
    code: str
    kind: str

    @property
    def where(self) -> str:
        """``module/file.py:42``: the file's last two path parts and the line."""
        parts = PurePath(self.file).parts[-2:]
        return f"{'/'.join(parts)}:{self.line}"

    @property
    def package(self) -> str:
        """The top-level package a library frame belongs to (``asyncio``, ``httpx``)."""
        parts = PurePath(self.file).parts
        for anchor in ("site-packages", "dist-packages"):
            if anchor in parts:
                after = parts[parts.index(anchor) + 1 :]
                return after[0].removesuffix(".py") if after else anchor
        if self.file.startswith("<"):
            return self.file.strip("<>").split()[-1]
        for i, part in enumerate(parts):
            if re.fullmatch(r"python3(\.\d+)?", part) and i + 1 < len(parts):
                return parts[i + 1].removesuffix(".py")
        return PurePath(self.file).stem


@dataclass
class Section:
    """One traceback of a chain: its frames and the exception line(s) that end it;
    ``cause`` is the sentence Python put before it (chained exceptions)."""

    frames: list[Frame] = field(default_factory=list)
    exception: str = ""
    cause: str | None = None


def frame_kind(file: str) -> str:
    """``semtrace`` for semtrace's own instrumentation, ``library`` for installed packages
    and the standard library, ``app`` for everything else."""
    parts = PurePath(file).parts
    if "semtrace" in parts:
        after = parts[len(parts) - 1 - parts[::-1].index("semtrace") + 1 :]
        if not (after and after[0] in _APP_PARTS):
            return "semtrace"
    if file.startswith("<") or "site-packages" in parts or "dist-packages" in parts:
        return "library"
    if any(re.fullmatch(r"python3(\.\d+)?", p) for p in parts):
        return "library"
    return "app"


def parse(text: str) -> list[Section]:
    """The tracebacks in ``text``, oldest first; empty when it is not a Python traceback."""
    if _HEADER not in text:
        return []
    sections: list[Section] = []
    current: Section | None = None
    pending_cause: str | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped == _HEADER:
            current = Section(cause=pending_cause)
            sections.append(current)
            pending_cause = None
        elif stripped in _CHAIN:
            pending_cause = stripped
        elif current is not None and (m := _FRAME.match(line)):
            code = ""
            # The source line follows, then maybe carets (^^^) under the failing part.
            while i + 1 < len(lines) and lines[i + 1].startswith("    "):
                nxt = lines[i + 1].strip()
                if _FRAME.match(lines[i + 1]):
                    break
                i += 1
                if nxt and not set(nxt) <= set("^~ "):
                    code = code or nxt
            current.frames.append(
                Frame(
                    file=m["file"],
                    line=int(m["line"]),
                    function=m["func"] or "",
                    code=code,
                    kind=frame_kind(m["file"]),
                )
            )
        elif current is not None and stripped:
            current.exception = f"{current.exception}\n{stripped}".strip()
        i += 1
    return sections


def fold(frames: list[Frame]) -> list[Frame | list[Frame]]:
    """The frames to show: semtrace's own left out, each run of library frames as one list
    (to draw folded); application frames as they are."""
    out: list[Frame | list[Frame]] = []
    for frame in frames:
        if frame.kind == "semtrace":
            continue
        if frame.kind == "library":
            if out and isinstance(out[-1], list):
                out[-1].append(frame)
            else:
                out.append([frame])
        else:
            out.append(frame)
    return out
