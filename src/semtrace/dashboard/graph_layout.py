"""A layered layout for the agent graph: callers on the left, whom they reach to the right,
each group of connected agents in its own band, so 15 to 30 agents stay readable.

The classic steps (Sugiyama): cycles are broken by reversing back edges, each agent goes in
the layer after the furthest caller (longest path), and agents within a layer are ordered by
the mean position of their neighbours (a few sweeps down and up) so edges cross rarely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["layered_layout"]

SWEEPS = 4


def _components(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    group = {n: n for n in nodes}

    def find(n: str) -> str:
        while group[n] != n:
            group[n] = group[group[n]]
            n = group[n]
        return n

    for a, b in edges:
        group[find(a)] = find(b)
    out: dict[str, list[str]] = {}
    for n in nodes:
        out.setdefault(find(n), []).append(n)
    # Biggest group first, then by name: the same picture every time.
    return sorted(out.values(), key=lambda g: (-len(g), min(g)))


def _acyclic(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]], weight: Mapping[tuple[str, str], float]
) -> list[tuple[str, str]]:
    """The edges with the cycles broken at their lightest edges: nodes are put in a line
    (Eades, Lin and Smyth's greedy heuristic: sinks to the end, sources to the front, else
    the node sending most more than it receives), and every edge pointing backwards along
    that line is reversed. A request and its reply between two agents (a -> b and b -> a)
    count as one edge from the agent with more neighbours: a hub stays left of its
    specialists."""
    neighbours: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in weight:
        neighbours[a].add(b)
        neighbours[b].add(a)
    weight = {
        (a, b): w
        for (a, b), w in weight.items()
        if (b, a) not in weight
        or len(neighbours[a]) > len(neighbours[b])
        or (len(neighbours[a]) == len(neighbours[b]) and a < b)
    }
    left = set(nodes)
    head: list[str] = []
    tail: list[str] = []

    def out_w(n: str) -> float:
        return sum(w for (a, b), w in weight.items() if a == n and b in left and b != n)

    def in_w(n: str) -> float:
        return sum(w for (a, b), w in weight.items() if b == n and a in left and a != n)

    while left:
        changed = True
        while changed:
            changed = False
            for n in sorted(left):
                if not out_w(n):
                    tail.insert(0, n)
                    left.discard(n)
                    changed = True
                elif not in_w(n):
                    head.append(n)
                    left.discard(n)
                    changed = True
        if left:
            best = max(sorted(left), key=lambda n: out_w(n) - in_w(n))
            head.append(best)
            left.discard(best)
    rank = {n: i for i, n in enumerate(head + tail)}
    return [(b, a) if rank[a] > rank[b] else (a, b) for a, b in edges if a != b]


def _layers(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    preds: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        preds[b].add(a)
    layer: dict[str, int] = {}

    def place(n: str) -> int:
        if n not in layer:
            layer[n] = 0  # guards against a cycle left by a self-referencing group
            layer[n] = max((place(p) + 1 for p in preds[n]), default=0)
        return layer[n]

    for n in nodes:
        place(n)
    return layer


def _order(layer: dict[str, int], edges: Sequence[tuple[str, str]]) -> dict[int, list[str]]:
    by_layer: dict[int, list[str]] = {}
    for n in sorted(layer):
        by_layer.setdefault(layer[n], []).append(n)
    neighbours: dict[str, list[str]] = {n: [] for n in layer}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    depth = max(by_layer, default=0)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        for lvl in range(1, depth + 1) if down else range(depth - 1, -1, -1):
            ref = lvl - 1 if down else lvl + 1
            pos = {n: i for i, n in enumerate(by_layer.get(ref, []))}

            def centre(n: str, pos: dict[str, int] = pos) -> float:
                near = [pos[m] for m in neighbours[n] if m in pos]
                return sum(near) / len(near) if near else float("inf")

            current = by_layer[lvl]
            by_layer[lvl] = sorted(current, key=lambda n: (centre(n), current.index(n)))
    return by_layer


def layered_layout(
    nodes: Iterable[str],
    edges: Iterable[tuple[str, str]],
    weight: Mapping[tuple[str, str], float] | None = None,
) -> dict[str, tuple[float, float]]:
    """Positions (x: layer, y: place in the layer, downwards) for each agent; each group of
    connected agents below the previous one, a row of space between groups. ``weight``
    (calls or messages per edge, default 1) decides where cycles are broken."""
    edge_list = sorted({(a, b) for a, b in edges})
    weights = {e: float((weight or {}).get(e, 1.0)) for e in edge_list}
    all_nodes = sorted({*nodes, *(a for a, _ in edge_list), *(b for _, b in edge_list)})
    pos: dict[str, tuple[float, float]] = {}
    top = 0.0
    for group in _components(all_nodes, edge_list):
        members = set(group)
        inner = [(a, b) for a, b in edge_list if a in members and b in members]
        dag = _acyclic(group, inner, {e: weights[e] for e in inner})
        by_layer = _order(_layers(group, dag), dag)
        height = max(len(v) for v in by_layer.values())
        for lvl, names in by_layer.items():
            offset = (height - len(names)) / 2  # each layer centred in the band
            for i, n in enumerate(names):
                pos[n] = (float(lvl), top + offset + i)
        top += height + 0.6
    return pos
