"""What a span owes to its ancestors and children, settled as it is written.

Three spans columns depend on other spans, not on the span alone:

- ``agent_name``/``agent_source``: a span with no agent of its own belongs to its nearest
  ancestor's agent (``inherited``);
- ``agent_call``: the span where one call of its agent starts (an ``invoke_agent`` span, a
  message handler, a root, a span whose parent belongs to another agent), once per call;
- ``error_origin``: on an ERROR span, the span where its failure started. An ERROR span with
  an errored descendant (a child, or further down below spans that did not error) is that
  failure's impact, not a new failure, when it has no exception of its own or the same
  exception type (the exception propagated); otherwise, and when nothing below errored, the
  failure starts at the span itself.

Views would have to walk the span tree for these (a recursive scan of every span); here they
are worked out once per batch in the writer. Spans end children first, so a parent usually
arrives after its children: the writer remembers, bounded, the recent spans and the children
still waiting for their parent. When the parent comes, its children settle what they can
from it, and the few rows already written that change (a child that inherits the late
parent's agent, or becomes a call because the parent belongs to another agent) are fixed by
one UPDATE in the same transaction, pruned to recent row groups by start time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import duckdb
import pyarrow as pa

from semtrace import semconv as sc
from semtrace.store import schema

__all__ = ["EXPLICIT", "INHERITED", "Lineage", "Prepared"]

EXPLICIT = "explicit"
INHERITED = "inherited"
_ENTRY_KINDS = frozenset({"CONSUMER", "SERVER"})
_Key = tuple[str, str]


@dataclass(slots=True)
class _Node:
    """What the writer remembers of a written span."""

    parent: str | None
    agent: str | None
    source: str | None
    call: bool
    error: bool
    exc: str | None  # short type of its own exception event
    err: str | None  # short error type (error.type, or the exception's)
    origin: str | None
    start_ns: int
    cause: str | None = None  # short exception type of the failure it belongs to
    # On a span that did not error: the earliest failure among its descendants, as
    # (start_ns, origin, cause), so an ERROR ancestor above it finds the failure it carries.
    carry: tuple[int, str, str | None] | None = None


def _short(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1] if name else None


@dataclass
class Prepared:
    """A batch's tables with the lineage columns settled, the rows already written that
    change, and the bookkeeping to keep once the transaction commits."""

    tables: list[tuple[str, pa.Table]]
    fixes: list[tuple[str, str, str | None, str | None, bool, int]] = field(default_factory=list)
    reorigins: list[tuple[str, str, str, int]] = field(default_factory=list)
    known: dict[_Key, _Node] = field(default_factory=dict)
    children_add: list[tuple[_Key, _Key]] = field(default_factory=list)
    orphans_add: list[tuple[_Key, _Key]] = field(default_factory=list)
    popped_children: list[_Key] = field(default_factory=list)
    popped_orphans: list[_Key] = field(default_factory=list)


_FIX_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("agent_name", pa.string()),
        ("agent_source", pa.string()),
        ("agent_call", pa.bool_()),
        ("start_time_ns", pa.int64()),
    ]
)
_REORIGIN_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("old_origin", pa.string()),
        ("new_origin", pa.string()),
        ("start_time_ns", pa.int64()),
    ]
)


class Lineage:
    """The writer's bounded memory of recent spans (one per store)."""

    def __init__(self, max_spans: int = 32_768) -> None:
        self.max_spans = max_spans
        self._known: OrderedDict[_Key, _Node] = OrderedDict()
        # children written before their parent, by the parent's key
        self._children: OrderedDict[_Key, list[_Key]] = OrderedDict()
        # spans written without an agent whose children also have none: they inherit together
        self._orphans: OrderedDict[_Key, list[_Key]] = OrderedDict()
        self._waiting = 0  # entries in _children and _orphans
        self._lock = threading.Lock()
        self.forgotten = 0  # entries evicted while still waiting (their rows may stay unsettled)

    # -- per batch ----------------------------------------------------------------------------
    def prepare(self, tables: Sequence[tuple[str, pa.Table]]) -> Prepared:
        """Settle the lineage columns of the spans in ``tables`` (the other tables pass)."""
        spans = [t for n, t in tables if n == schema.SPANS and t.num_rows]
        if not spans:
            return Prepared(list(tables))
        out = Prepared([(n, t) for n, t in tables if n != schema.SPANS])
        events = [t for n, t in tables if n == schema.SPAN_EVENTS and t.num_rows]
        table = spans[0] if len(spans) == 1 else pa.concat_tables(spans, promote_options="default")
        with self._lock:
            table = self._settle(table, _exceptions(events), out)
        out.tables.insert(0, (schema.SPANS, table))
        return out

    def write_fixes(self, con: duckdb.DuckDBPyConnection, prepared: Prepared) -> None:
        """Change the rows already written that this batch settles (inside its transaction)."""
        if prepared.fixes:
            fix = pa.Table.from_pylist(
                [dict(zip(_FIX_SCHEMA.names, f, strict=True)) for f in prepared.fixes],
                schema=_FIX_SCHEMA,
            )
            low = min(f[5] for f in prepared.fixes)
            con.register("__semtrace_lineage_fix", fix)
            try:
                con.execute(
                    f"""UPDATE {schema.SPANS} SET agent_name = f.agent_name,
                               agent_source = f.agent_source, agent_call = f.agent_call
                        FROM __semtrace_lineage_fix f
                        WHERE {schema.SPANS}.start_time_ns >= ?
                          AND {schema.SPANS}.trace_id = f.trace_id
                          AND {schema.SPANS}.span_id = f.span_id""",
                    [low],
                )
            finally:
                con.unregister("__semtrace_lineage_fix")
        if prepared.reorigins:
            moved = pa.Table.from_pylist(
                [dict(zip(_REORIGIN_SCHEMA.names, r, strict=True)) for r in prepared.reorigins],
                schema=_REORIGIN_SCHEMA,
            )
            low = min(r[3] for r in prepared.reorigins)
            con.register("__semtrace_lineage_origin", moved)
            try:
                con.execute(
                    f"""UPDATE {schema.SPANS} SET error_origin = m.new_origin
                        FROM __semtrace_lineage_origin m
                        WHERE {schema.SPANS}.start_time_ns >= ?
                          AND {schema.SPANS}.trace_id = m.trace_id
                          AND {schema.SPANS}.error_origin = m.old_origin""",
                    [low],
                )
            finally:
                con.unregister("__semtrace_lineage_origin")

    def commit(self, prepared: Prepared) -> None:
        """Remember the batch (call once its transaction committed)."""
        with self._lock:
            for waiting, popped in (
                (self._children, prepared.popped_children),
                (self._orphans, prepared.popped_orphans),
            ):
                for key in popped:
                    self._waiting -= len(waiting.pop(key, ()))
            self._known.update(prepared.known)
            for waiting, added in (
                (self._children, prepared.children_add),
                (self._orphans, prepared.orphans_add),
            ):
                for parent, child in added:
                    waiting.setdefault(parent, []).append(child)
                self._waiting += len(added)
            self._bound()

    def _bound(self) -> None:
        """Forget the oldest spans past ``max_spans`` (their late relatives stay unsettled:
        counted in ``forgotten``)."""
        known = self._known
        while len(known) > self.max_spans:
            known.popitem(last=False)
        while self._waiting > self.max_spans:
            waiting = max((self._children, self._orphans), key=len)
            if not waiting:
                self._waiting = 0
                break
            _, lost = waiting.popitem(last=False)
            self._waiting -= len(lost)
            self.forgotten += len(lost)

    # -- the work ------------------------------------------------------------------------------
    def _settle(self, table: pa.Table, exceptions: dict[_Key, str], out: Prepared) -> pa.Table:
        cols = {
            name: table.column(name).to_pylist()
            for name in (
                "trace_id",
                "span_id",
                "parent_span_id",
                "kind",
                "operation",
                "status_code",
                "agent_name",
                "error_type",
                "start_time_ns",
            )
        }
        traces, spans, parents = cols["trace_id"], cols["span_id"], cols["parent_span_id"]
        agents, operations, kinds = cols["agent_name"], cols["operation"], cols["kind"]
        statuses, error_types, starts = (
            cols["status_code"],
            cols["error_type"],
            cols["start_time_ns"],
        )
        n = len(spans)
        keys = list(zip(traces, spans, strict=True))
        row_of: dict[_Key, int] = {k: i for i, k in enumerate(keys)}
        parent_keys = [(t, p) if p else None for t, p in zip(traces, parents, strict=True)]
        parent_rows = [row_of.get(pk) if pk else None for pk in parent_keys]
        kids: dict[int, list[int]] = {}
        tops: list[int] = []
        for i, j in enumerate(parent_rows):
            if j is None or j == i:
                tops.append(i)
            else:
                kids.setdefault(j, []).append(i)
        order = _parent_first(tops, kids, n) if kids else list(range(n))

        nodes: list[_Node] = [None] * n  # type: ignore[list-item]
        known_get = self._known.get
        orphans_add = out.orphans_add.append
        # Pass 1, parents first: agent, source and call.
        for i in order:
            parent_key = parent_keys[i]
            j = parent_rows[i]
            if j is not None and j != i:
                above: _Node | None = nodes[j]
            elif parent_key is not None:
                above = known_get(parent_key)
            else:
                above = None
            own = agents[i]
            above_agent = above.agent if above is not None else None
            if own is not None:
                agent, source = own, EXPLICIT
                call = (
                    operations[i] == sc.OP_INVOKE_AGENT
                    or kinds[i] in _ENTRY_KINDS
                    or parent_key is None
                    or (above_agent is not None and above_agent != own)
                )
            elif above_agent is not None:
                agent, source, call = above_agent, INHERITED, False
            else:
                agent = source = None
                call = False
                if above is not None and (j is None or j == i):
                    assert parent_key is not None
                    orphans_add((parent_key, keys[i]))  # waits with its written parent
            if statuses[i] == "ERROR":
                exc = _short(exceptions.get(keys[i]))
                err = _short(error_types[i]) or exc
                nodes[i] = _Node(
                    parents[i], agent, source, call, True, exc, err, spans[i], starts[i], exc or err
                )
            else:
                nodes[i] = _Node(
                    parents[i], agent, source, call, False, None, None, None, starts[i]
                )
        # Pass 2, children first: errors propagate up, calls are counted once, and children
        # written earlier settle against their (late) parent.
        children_get = self._children.get
        out_known = out.known
        for i in reversed(order):
            node = nodes[i]
            key = keys[i]
            earlier = children_get(key)
            # failures below the span: errored children, and what children that did not
            # error carry up from further down, as (start_ns, origin, cause)
            errored: list[tuple[int, str, str | None]] = []
            below = kids.get(i)
            if below:
                for c in below:
                    child = nodes[c]
                    if child.error:
                        errored.append((child.start_ns, child.origin or "", child.cause))
                    elif child.carry is not None:
                        errored.append(child.carry)
                    if child.agent is None and node.agent is None:
                        orphans_add((key, keys[c]))
                    if child.call and child.agent == node.agent:
                        node.call = False
            if earlier:
                out.popped_children.append(key)
                for ckey in earlier:
                    found = self._node(ckey, out)
                    if found is not None:
                        if found.error:
                            errored.append((found.start_ns, found.origin or "", found.cause))
                        elif found.carry is not None:
                            errored.append(found.carry)
                        self._settle_child(ckey, found, key, node, out)
            if errored:
                errored.sort(key=lambda e: e[0])
            if node.error:
                for _, origin, cause in errored:
                    if node.exc is None or node.exc == cause:
                        node.origin, node.cause = origin, cause
                        break
                self._late_child(key, node, out)
            elif errored:
                node.carry = errored[0]
            out_known[key] = node
            parent_key = parent_keys[i]
            if parent_key is not None and parent_rows[i] is None and parent_key not in self._known:
                out.children_add.append((parent_key, key))
        return _with_columns(table, nodes)

    def _node(self, key: _Key, out: Prepared) -> _Node | None:
        """A written span's node, as this batch left it (a copy: the remembered one changes
        only when the batch commits)."""
        node = out.known.get(key)
        if node is None:
            node = self._known.get(key)
            if node is not None:
                node = replace(node)
        return node

    def _settle_child(
        self, ckey: _Key, child: _Node, pkey: _Key, parent: _Node, out: Prepared
    ) -> None:
        """A child written before ``parent`` arrived: inherit its agent or become a call."""
        changed = False
        if child.agent is None:
            if parent.agent is not None:
                self._inherit(ckey, child, parent.agent, out)
            else:
                out.orphans_add.append((pkey, ckey))  # both wait for an ancestor's agent
            return
        if child.call and child.agent == parent.agent:
            parent.call = False
        elif (
            child.source == EXPLICIT
            and not child.call
            and parent.agent is not None
            and child.agent != parent.agent
        ):
            child.call = changed = True
        if changed:
            out.known[ckey] = child
            out.fixes.append(
                (ckey[0], ckey[1], child.agent, child.source, child.call, child.start_ns)
            )

    def _inherit(self, key: _Key, node: _Node, agent: str, out: Prepared) -> None:
        """``key`` (written with no agent) and its agent-less descendants take ``agent``."""
        stack = [(key, node)]
        while stack:
            k, n = stack.pop()
            n.agent, n.source, n.call = agent, INHERITED, False
            out.known[k] = n
            out.fixes.append((k[0], k[1], agent, INHERITED, False, n.start_ns))
            below = self._orphans.get(k)
            if below:
                out.popped_orphans.append(k)
                for ck in below:
                    cn = self._node(ck, out)
                    if cn is not None and cn.agent is None:
                        stack.append((ck, cn))

    def _late_child(self, key: _Key, node: _Node, out: Prepared) -> None:
        """An errored span whose ERROR parent was written before it: the parent's failure (and
        what pointed at it) now starts here, when the exception propagated."""
        if not node.error or node.parent is None:
            return
        parent = self._node((key[0], node.parent), out)
        if parent is None or not parent.error or parent.origin != node.parent:
            return
        if parent.exc is not None and parent.exc not in (node.exc, node.cause):
            return
        out.reorigins.append((key[0], node.parent, node.origin or key[1], parent.start_ns))
        parent.origin, parent.cause = node.origin, node.cause
        out.known[(key[0], node.parent)] = parent


def _parent_first(tops: list[int], kids: dict[int, list[int]], n: int) -> list[int]:
    """Row indices with every parent before its children (rows in cycles appended last)."""
    order: list[int] = []
    seen = bytearray(n)
    stack = list(reversed(tops))
    while stack:
        i = stack.pop()
        if seen[i]:
            continue
        seen[i] = 1
        order.append(i)
        stack.extend(reversed(kids.get(i, [])))
    if len(order) < n:
        order.extend(i for i in range(n) if not seen[i])
    return order


def _exceptions(tables: Sequence[pa.Table]) -> dict[_Key, str]:
    """The type of each span's first exception event in a batch's ``span_events``."""
    out: dict[_Key, str] = {}
    for events in tables:
        names = events.column("name").to_pylist()
        types = events.column("exception_type").to_pylist()
        traces = events.column("trace_id").to_pylist()
        spans = events.column("span_id").to_pylist()
        for name, typ, t, s in zip(names, types, traces, spans, strict=True):
            if name == sc.EXCEPTION_EVENT and typ and (t, s) not in out:
                out[(t, s)] = typ
    return out


def _with_columns(table: pa.Table, nodes: list[_Node]) -> pa.Table:
    columns = {
        "agent_name": pa.array([x.agent for x in nodes], pa.string()),
        "agent_source": pa.array([x.source for x in nodes], pa.string()),
        "agent_call": pa.array([x.call for x in nodes], pa.bool_()),
        "error_origin": pa.array([x.origin for x in nodes], pa.string()),
    }
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    return table
