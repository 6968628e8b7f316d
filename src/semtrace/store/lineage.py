"""What a span owes to its ancestors and children, settled as it is written.

These spans columns depend on other spans, not on the span alone:

- ``agent_name``/``agent_source``: a span with no agent of its own belongs to its nearest
  ancestor's agent (``inherited``);
- ``agent_call``: the span where one call of its agent starts (an ``invoke_agent`` span, a
  message handler, a root, a span whose parent belongs to another agent), once per call;
- ``error_origin``: on an ERROR span, the span where its failure started. An ERROR span with
  an errored descendant (a child, or further down below spans that did not error) is that
  failure's impact, not a new failure, when it has no exception of its own, the same
  exception type (the exception propagated), or an exception that wraps it (its message
  quotes the failure's, or its traceback names it as the cause: ``raise X(...) from e``);
  otherwise, and when nothing below errored, the failure starts at the span itself. Among
  several failures below, the earliest that qualifies;
- ``caught_failure``: on a span that did not error, the origin of the (earliest) failure
  among its descendants, carried up through the spans that did not error: it caught that
  failure, and an error log it writes afterwards is the failure's impact sentence (the
  ``failures`` view), not a new failure.

Views would have to walk the span tree for these (a recursive scan of every span); here they
are worked out once per batch in the writer. Spans end children first, so a parent usually
arrives after its children: the writer remembers, bounded, the recent spans and the children
still waiting for their parent. When the parent comes, its children settle what they can
from it, and the few rows already written that change (a child that inherits the late
parent's agent, or becomes a call because the parent belongs to another agent) are fixed by
one UPDATE in the same transaction, pruned to recent row groups by start time. A failure
that arrives after its ancestors (a remote child, a batch cut in the middle of a trace)
climbs the remembered ancestors the same way, so the origins do not depend on how spans were
cut into batches (within the writer's memory of recent spans), and the spans above it that
caught it are re-pointed by id.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from semtrace import semconv as sc
from semtrace.store import schema

__all__ = ["EXPLICIT", "INHERITED", "Lineage", "Prepared"]

EXPLICIT = "explicit"
INHERITED = "inherited"
_ENTRY_KINDS = frozenset({"CONSUMER", "SERVER"})
_Key = tuple[str, str]
# A failure as the spans above it see it: (start_ns, origin span id, short exception type,
# the messages that identify it: the origin's and those of the spans it took down).
_Failure = tuple[int, str, str | None, tuple[str, ...]]
_MAX_CARRY = 4  # failures an OK span carries up (the earliest)
_MAX_QUOTES = 4  # messages a failure is known by
_MAX_TEXT = 500  # characters of a message kept to compare
_MIN_QUOTE = 8  # a message shorter than this is too common to prove a wrap
_CAUSE_MARKERS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)


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
    # On an ERROR span: the messages of the failure it belongs to, and its own texts (its
    # exception's and status's messages, the exceptions its traceback names as causes).
    quotes: tuple[str, ...] = ()
    said: tuple[str, ...] = ()
    origin_ns: int | None = None  # when the failure it belongs to started (None: itself)
    # On a span that did not error: the earliest failures among its descendants, so an
    # ERROR ancestor above it finds the failure it carries.
    carry: tuple[_Failure, ...] = ()

    def copy(self) -> _Node:
        """A copy to change (``dataclasses.replace`` costs ten times this per node)."""
        return _Node(
            self.parent,
            self.agent,
            self.source,
            self.call,
            self.error,
            self.exc,
            self.err,
            self.origin,
            self.start_ns,
            self.cause,
            self.quotes,
            self.said,
            self.origin_ns,
            self.carry,
        )

    def failure(self) -> _Failure:
        """The failure this ERROR span belongs to, as its ancestors see it."""
        start = self.start_ns if self.origin_ns is None else self.origin_ns
        return (start, self.origin or "", self.cause, self.quotes)

    def below(self) -> tuple[_Failure, ...]:
        """The failures this span passes up: its own, or what it carries."""
        return (self.failure(),) if self.error else self.carry

    def belongs_to(self, failure: _Failure) -> bool:
        """Whether this ERROR span is ``failure``'s impact: no exception of its own, the
        same type (propagated), or an exception that wraps it (quotes its message)."""
        if self.exc is None or self.exc == failure[2]:
            return True
        return any(q in text for q in failure[3] for text in self.said)


def _short(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1] if name else None


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    line = text.strip().split("\n", 1)[0].strip()[:_MAX_TEXT]
    return line if len(line) >= _MIN_QUOTE else None


def _causes(stacktrace: str | None) -> list[str]:
    """The ``Type: message`` lines of the exceptions a traceback names before the last one
    (``raise X from e`` or an exception raised while handling another)."""
    if not stacktrace or "above exception" not in stacktrace:
        return []
    parts = [stacktrace]
    for marker in _CAUSE_MARKERS:
        parts = [piece for part in parts for piece in part.split(marker)]
    out = []
    for part in parts[:-1]:
        lines = [ln for ln in part.splitlines() if ln.strip() and not ln.startswith(" ")]
        if lines:
            out.append(lines[-1][:_MAX_TEXT])
    return out


def _merge(failures: list[_Failure], limit: int = _MAX_CARRY) -> tuple[_Failure, ...]:
    """The earliest ``limit`` failures, each once, earliest first."""
    out: dict[str, _Failure] = {}
    for f in sorted(failures, key=lambda f: (f[0], f[1])):
        out.setdefault(f[1], f)
        if len(out) == limit:
            break
    return tuple(out.values())


@dataclass
class Prepared:
    """A batch's tables with the lineage columns settled, the rows already written that
    change, and the bookkeeping to keep once the transaction commits."""

    tables: list[tuple[str, pa.Table]]
    fixes: list[tuple[str, str, str | None, str | None, bool, int]] = field(default_factory=list)
    reorigins: list[tuple[str, str, str, int]] = field(default_factory=list)
    moves: list[tuple[str, str, str, int]] = field(default_factory=list)
    # spans written before that now catch another failure: key -> (origin, start_time_ns)
    caught: dict[_Key, tuple[str, int]] = field(default_factory=dict)
    known: dict[_Key, _Node] = field(default_factory=dict)
    children_add: list[tuple[_Key, _Key]] = field(default_factory=list)
    orphans_add: list[tuple[_Key, _Key]] = field(default_factory=list)
    popped_children: list[_Key] = field(default_factory=list)
    popped_orphans: list[_Key] = field(default_factory=list)


def _span_fields(*columns: str | tuple[str, str]) -> pa.Schema:
    """An Arrow schema of spans columns as :mod:`semtrace.store.schema` declares their types;
    ``(name, column)`` names a field typed as that column."""
    spans = schema.SPANS_TABLE
    pairs = [(c, c) if isinstance(c, str) else c for c in columns]
    return pa.schema([(name, spans.column(column).type.arrow) for name, column in pairs])


_FIX_SCHEMA = _span_fields(
    "trace_id", "span_id", "agent_name", "agent_source", "agent_call", "start_time_ns"
)
_MOVE_SCHEMA = _span_fields("trace_id", "span_id", ("new_origin", "error_origin"), "start_time_ns")
_REORIGIN_SCHEMA = _span_fields(
    "trace_id",
    ("old_origin", "error_origin"),
    ("new_origin", "error_origin"),
    "start_time_ns",
)
_CAUGHT_SCHEMA = _span_fields("trace_id", "span_id", "caught_failure", "start_time_ns")
# What each kind of fix sets, and which rows it matches (besides the trace).
_SPANS = schema.SPANS
_UPDATES = (
    (
        "fixes",
        _FIX_SCHEMA,
        "agent_name = f.agent_name, agent_source = f.agent_source, agent_call = f.agent_call",
        f"{_SPANS}.span_id = f.span_id",
    ),
    (
        "reorigins",
        _REORIGIN_SCHEMA,
        "error_origin = f.new_origin",
        f"{_SPANS}.error_origin = f.old_origin",
    ),
    ("moves", _MOVE_SCHEMA, "error_origin = f.new_origin", f"{_SPANS}.span_id = f.span_id"),
    (
        "caught",
        _CAUGHT_SCHEMA,
        "caught_failure = f.caught_failure",
        f"{_SPANS}.span_id = f.span_id",
    ),
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
        """Change the rows already written that this batch settles (inside its transaction):
        each kind of fix is one UPDATE joined to a registered Arrow table, pruned to the rows
        that started no earlier than the oldest row it changes."""
        caught = [(k[0], k[1], origin, ns) for k, (origin, ns) in prepared.caught.items()]
        for attr, arrow_schema, assign, match in _UPDATES:
            rows: list[tuple[Any, ...]] = caught if attr == "caught" else getattr(prepared, attr)
            if not rows:
                continue
            fix = pa.Table.from_pylist(
                [dict(zip(arrow_schema.names, r, strict=True)) for r in rows], schema=arrow_schema
            )
            low = min(r[-1] for r in rows)
            con.register("__semtrace_lineage_fix", fix)
            try:
                con.execute(
                    f"""UPDATE {_SPANS} SET {assign}
                        FROM __semtrace_lineage_fix f
                        WHERE {_SPANS}.start_time_ns >= ?
                          AND {_SPANS}.trace_id = f.trace_id AND {match}""",
                    [low],
                )
            finally:
                con.unregister("__semtrace_lineage_fix")

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
    def _settle(
        self,
        table: pa.Table,
        exceptions: dict[_Key, tuple[str, str | None, str | None]],
        out: Prepared,
    ) -> pa.Table:
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
        failed = [i for i, s in enumerate(statuses) if s == "ERROR"]
        status_messages = (
            dict(zip(failed, table.column("status_message").take(failed).to_pylist(), strict=True))
            if failed
            else {}
        )

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
                exc_type, exc_message, stacktrace = exceptions.get(keys[i], (None, None, None))
                exc = _short(exc_type)
                err = _short(error_types[i]) or exc
                status = status_messages.get(i)
                own = _first_line(exc_message) or _first_line(status)
                said = tuple(
                    t[:_MAX_TEXT] for t in (exc_message, status, *_causes(stacktrace)) if t
                )
                nodes[i] = _Node(
                    parents[i],
                    agent,
                    source,
                    call,
                    True,
                    exc,
                    err,
                    spans[i],
                    starts[i],
                    exc or err,
                    (own,) if own else (),
                    said,
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
            # failures below the span: errored children's, and what children that did not
            # error carry up from further down
            errored: list[_Failure] = []
            below = kids.get(i)
            if below:
                for c in below:
                    child = nodes[c]
                    if child.error or child.carry:
                        errored.extend(child.below())
                    if child.agent is None and node.agent is None:
                        orphans_add((key, keys[c]))
                    if child.call and child.agent == node.agent:
                        node.call = False
            if earlier:
                out.popped_children.append(key)
                for ckey in earlier:
                    found = self._node(ckey, out)
                    if found is not None:
                        if found.error or found.carry:
                            errored.extend(found.below())
                        self._settle_child(ckey, found, key, node, out)
            if errored:
                if node.error:
                    for failure in _merge(errored, len(errored)):
                        if node.belongs_to(failure):
                            self._take(node, failure)
                            break
                else:
                    node.carry = _merge(errored)
            out_known[key] = node
            parent_key = parent_keys[i]
            if parent_key is not None and parent_rows[i] is None:
                if parent_key in self._known:
                    if node.error or node.carry:
                        self._climb(key, node, out)
                else:
                    out.children_add.append((parent_key, key))
        return _with_columns(table, nodes)

    def _node(self, key: _Key, out: Prepared) -> _Node | None:
        """A written span's node, as this batch left it (a copy: the remembered one changes
        only when the batch commits)."""
        node = out.known.get(key)
        if node is None:
            node = self._known.get(key)
            if node is not None:
                node = node.copy()
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

    @staticmethod
    def _take(node: _Node, failure: _Failure) -> None:
        """``node`` (ERROR) becomes ``failure``'s impact."""
        node.origin, node.cause, node.origin_ns = failure[1], failure[2], failure[0]
        node.quotes = (*failure[3], *node.quotes)[:_MAX_QUOTES]

    def _climb(self, key: _Key, node: _Node, out: Prepared) -> None:
        """A failure written after its ancestors: the remembered spans above it that did not
        error carry it up, and the first ERROR ancestor becomes its impact when it qualifies
        and was its own failure or the impact of a later one; so does what pointed at that
        ancestor's former failure through it (spans carrying it, ERROR spans above)."""
        trace = key[0]
        failures = node.below()
        replaced: str | None = None  # the failure the last ERROR ancestor belonged to before
        parent_id = node.parent
        for _ in range(256):  # a bound against cycles in malformed parent links
            if parent_id is None:
                return
            pkey = (trace, parent_id)
            parent = self._node(pkey, out)
            if parent is None:
                return
            if parent.error:
                if replaced is not None and parent.origin == replaced:
                    # moved by id: it started before the span the UPDATE on error_origin
                    # prunes from, and the former failure's own spans must stay
                    out.moves.append((trace, parent_id, failures[0][1], parent.start_ns))
                    self._take(parent, failures[0])
                else:
                    own = parent.origin == parent_id
                    now = parent.failure()[:2]
                    taken = next(
                        (
                            f
                            for f in failures
                            if f[1] != parent_id and (own or f[:2] < now) and parent.belongs_to(f)
                        ),
                        None,
                    )
                    if taken is None:
                        return
                    if own:  # it and what pointed at it, by one UPDATE on error_origin
                        out.reorigins.append((trace, parent_id, taken[1], parent.start_ns))
                    else:  # its former failure's own spans stay: move it and those above
                        out.moves.append((trace, parent_id, taken[1], parent.start_ns))
                    replaced = parent.origin
                    self._take(parent, taken)
                out.known[pkey] = parent
                failures = (parent.failure(),)
            else:
                carry = parent.carry
                if replaced is not None:
                    carry = tuple(failures[0] if f[1] == replaced else f for f in carry)
                carry = _merge([*carry, *failures])
                if carry == parent.carry:
                    return  # it already carries these: nothing above changes
                if _caught(carry) != _caught(parent.carry):
                    out.caught[pkey] = (carry[0][1], parent.start_ns)
                parent.carry = carry
                out.known[pkey] = parent
            parent_id = parent.parent


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


def _exceptions(tables: Sequence[pa.Table]) -> dict[_Key, tuple[str, str | None, str | None]]:
    """(type, message, stacktrace) of each span's first exception event in a batch's
    ``span_events``."""
    out: dict[_Key, tuple[str, str | None, str | None]] = {}
    for events in tables:
        names = events.column("name").to_pylist()
        rows = [i for i, name in enumerate(names) if name == sc.EXCEPTION_EVENT]
        if not rows:
            continue
        picked = events.take(rows)
        columns = [
            picked.column(c).to_pylist()
            for c in (
                "trace_id",
                "span_id",
                "exception_type",
                "exception_message",
                "exception_stacktrace",
            )
        ]
        for t, s, typ, message, stacktrace in zip(*columns, strict=True):
            if typ and (t, s) not in out:
                out[(t, s)] = (typ, message, stacktrace)
    return out


def _caught(carry: tuple[_Failure, ...]) -> str | None:
    """The failure a span that did not error caught: the earliest it carries."""
    return carry[0][1] if carry else None


def _with_columns(table: pa.Table, nodes: list[_Node]) -> pa.Table:
    columns = {
        "agent_name": [x.agent for x in nodes],
        "agent_source": [x.source for x in nodes],
        "agent_call": [x.call for x in nodes],
        "error_origin": [x.origin for x in nodes],
        "caught_failure": [None if x.error else _caught(x.carry) for x in nodes],
    }
    spans = schema.SPANS_TABLE
    for name, values in columns.items():
        array = pa.array(values, spans.column(name).type.arrow)
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, array) if at >= 0 else table.append_column(name, array)
    return table
