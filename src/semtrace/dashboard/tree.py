"""The shape of one trace, for the trace page: collapsed subtrees, focus ranges, the
critical path and the gaps between steps, computed from the narrow skeleton columns only
(see :func:`semtrace.dashboard.queries.trace_skeleton`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Gap", "TraceTree"]


@dataclass(frozen=True)
class Gap:
    """Time inside a span when none of its (visible) children ran: the span waited, or
    worked without a traced step. ``before`` is the child that ran next (None: the time
    after the last child, until the span ended)."""

    parent: str
    before: str | None
    start_ns: int
    end_ns: int

    @property
    def ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass
class TraceTree:
    """The shape of one trace built from its skeleton: parents, depths, subtree sizes.

    Spans whose parent is not in the trace count as roots. Indices refer to skeleton rows.
    Children are stored flat (CSR: ``kids[first[i]:first[i + 1]]``, by start time) in plain
    lists of ints, so a 100,000-span tree is a handful of objects for the garbage collector
    rather than one list per span.
    """

    table: pa.Table
    ids: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)
    first: list[int] = field(default_factory=list)
    kids: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)  # failed spans in each subtree
    open_parents: int = 0  # spans whose parent has not arrived (yet): a running trace

    @classmethod
    def from_table(cls, table: pa.Table) -> TraceTree:
        n = table.num_rows
        ids = table.column("span_id")
        parent = pc.index_in(table.column("parent_span_id"), value_set=ids)
        par = np.asarray(parent.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        rows = np.arange(n, dtype=np.int64)
        par[par == rows] = -1  # a span naming itself as parent is a root
        has_parent = par >= 0
        # Rows arrive in start order; a stable sort by parent keeps siblings in that order.
        children = rows[has_parent][np.argsort(par[has_parent], kind="stable")]
        counts = np.bincount(par[has_parent], minlength=n) if n else np.zeros(0, np.int64)
        first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # Depth by pointer jumping: O(log depth) vector steps.
        depth = has_parent.astype(np.int64)
        anc = par.copy()
        while n and (anc >= 0).any():
            m = anc >= 0
            depth[m] += depth[anc[m]]
            anc[m] = anc[anc[m]]
        # Subtree sizes and failed spans per subtree, deepest level first.
        size = np.ones(n, dtype=np.int64)
        failed = np.asarray(
            pc.equal(table.column("status_code"), "ERROR")
            .fill_null(False)
            .to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        if n:
            order = np.argsort(-depth, kind="stable")
            levels = np.flatnonzero(np.diff(depth[order])) + 1
            for chunk in np.split(order, levels):
                chunk = chunk[par[chunk] >= 0]
                np.add.at(size, par[chunk], size[chunk])
                np.add.at(failed, par[chunk], failed[chunk])
        named_parent = np.asarray(
            table.column("parent_span_id").is_valid().to_numpy(zero_copy_only=False), dtype=bool
        )
        return cls(
            table,
            open_parents=int((named_parent & ~has_parent).sum()) if n else 0,
            ids=[str(v) for v in ids.to_pylist()],
            start=table.column("start_time_ns").to_numpy().tolist(),
            end=table.column("end_time_ns").to_numpy().tolist(),
            parent=par.tolist(),
            depth=depth.tolist(),
            size=size.tolist(),
            roots=rows[~has_parent].tolist(),
            first=first.tolist(),
            kids=children.tolist(),
            errors=failed.tolist(),
        )

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def position(self) -> dict[str, int]:
        """The row index of each span id."""
        return {span_id: i for i, span_id in enumerate(self.ids)}

    def children(self, i: int) -> list[int]:
        """Row indices of span ``i``'s children, by start time."""
        return self.kids[self.first[i] : self.first[i + 1]]

    def child_count(self, i: int) -> int:
        return self.first[i + 1] - self.first[i]

    @property
    def bounds(self) -> tuple[int, int]:
        """First start and last end of the trace, in nanoseconds."""
        if not self.ids:
            return (0, 0)
        return (min(self.start), max(self.end))

    def default_expanded(self, budget: int = 150) -> set[str]:
        """Spans to open on first view: whole levels, breadth first, while the rows fit."""
        expanded: set[str] = set()
        shown = len(self.roots)
        level = list(self.roots)
        while level:
            nxt = [c for i in level for c in self.children(i)]
            if not nxt or shown + len(nxt) > budget:
                break
            expanded.update(self.ids[i] for i in level if self.child_count(i))
            shown += len(nxt)
            level = nxt
        return expanded

    def visible(
        self,
        expanded: Iterable[str],
        *,
        focus: tuple[int, int] | None = None,
        max_rows: int = 400,
    ) -> list[int]:
        """Rows to draw in pre-order: spans whose ancestors are all expanded and which
        overlap the focus range (nanoseconds), at most ``max_rows``."""
        opened = set(expanded)
        out: list[int] = []
        stack = list(reversed(self.roots))
        while stack and len(out) < max_rows:
            i = stack.pop()
            if focus is not None and (self.end[i] < focus[0] or self.start[i] > focus[1]):
                continue
            out.append(i)
            if self.ids[i] in opened:
                stack.extend(reversed(self.children(i)))
        return out

    def path_to(self, span_id: str) -> list[str]:
        """Ids of a span's ancestors, root first (to expand down to a span)."""
        i = self.position.get(span_id)
        if i is None:
            return []
        chain: list[str] = []
        p = self.parent[i]
        while p >= 0:
            chain.append(self.ids[p])
            p = self.parent[p]
        return list(reversed(chain))

    def critical_path(self) -> list[str]:
        """The spans that determined the end-to-end latency, root first.

        From the root that ends last, walk back from its end: the child that finished last
        before the cursor is on the path (recursively); the cursor then moves to that child's
        start, and the next child that ended before it continues the chain.
        """
        if not self.ids:
            return []
        start, end = self.start, self.end
        # Every span's children by end time, latest first: one sort for the whole tree (a
        # sequential trace's path is nearly every span, so sorting per node costs more).
        par = np.asarray(self.parent, dtype=np.int64)
        ends = np.asarray(end, dtype=np.int64)
        order = np.lexsort((-ends, par))
        order = order[par[order] >= 0]
        offsets = np.searchsorted(par[order], np.arange(len(self.ids) + 1)).tolist()
        by_end = order.tolist()
        root = max(self.roots, key=end.__getitem__)
        path: list[int] = []
        stack: list[tuple[int, int]] = [(root, end[root])]
        while stack:
            node, until = stack.pop()
            path.append(node)
            cursor = min(end[node], until)
            chosen: list[tuple[int, int]] = []
            for c in by_end[offsets[node] : offsets[node + 1]]:
                if start[c] >= cursor:
                    continue
                chosen.append((c, min(end[c], cursor)))
                cursor = start[c]
                if cursor <= start[node]:
                    break
            stack.extend(reversed(chosen))
        picked = np.asarray(path, dtype=np.int64)
        starts = np.asarray(start, dtype=np.int64)[picked]
        depths = np.asarray(self.depth, dtype=np.int64)[picked]
        ranked = picked[np.lexsort((depths, starts))]
        return [self.ids[i] for i in ranked.tolist()]

    def rows(self, indices: Sequence[int], expanded: Iterable[str]) -> list[dict[str, Any]]:
        """Display rows for ``indices``: the skeleton columns plus depth, child count,
        hidden descendants (and how many of them failed), whether the row is collapsed, and
        ``agent``: the span's agent, else its nearest ancestor's (``agent_inherited`` says
        which)."""
        opened = set(expanded)
        picked = self.table.take(pa.array(list(indices), pa.int64())).to_pylist()
        for i, row in zip(indices, picked, strict=True):
            count = self.child_count(i)
            collapsed = bool(count) and self.ids[i] not in opened
            agent = row.get("agent_name")
            if agent is None:
                agent = self._ancestor_agent(i)
            row.update(
                depth=self.depth[i],
                children=count,
                hidden=self.size[i] - 1 if collapsed else 0,
                hidden_errors=self.errors[i] - (row["status_code"] == "ERROR") if collapsed else 0,
                collapsed=collapsed,
                agent=agent,
                agent_inherited=agent is not None and row.get("agent_name") is None,
            )
        return picked

    def _ancestor_agent(self, i: int) -> str | None:
        agents = self.table.column("agent_name")
        p = self.parent[i]
        while p >= 0:
            value = agents[p].as_py()
            if value is not None:
                return str(value)
            p = self.parent[p]
        return None

    def gaps(self, indices: Sequence[int], *, min_ms: float) -> list[Gap]:
        """The gaps inside the shown spans whose children are shown too: stretches of at
        least ``min_ms`` when none of the span's children ran (before a child starts, or
        after the last one until the span ends)."""
        shown = set(indices)
        out: list[Gap] = []
        for i in indices:
            kids = [c for c in self.children(i) if c in shown]
            if not kids:
                continue
            cursor = self.start[i]
            for c in sorted(kids, key=self.start.__getitem__):
                if (self.start[c] - cursor) / 1e6 >= min_ms:
                    out.append(Gap(self.ids[i], self.ids[c], cursor, self.start[c]))
                cursor = max(cursor, self.end[c])
            if (self.end[i] - cursor) / 1e6 >= min_ms:
                out.append(Gap(self.ids[i], None, cursor, self.end[i]))
        return out
