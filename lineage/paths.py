"""Paths: a shortest directed path between two nodes, as a Marquez-shaped graph of its nodes."""

from typing import Any

import networkx as nx

from lineage.marquez import graph_from_walk
from lineage.selectors import node_by_key, nodes_by_ids
from lineage.walks import Walk, walk


def path_between(from_id: str, to_id: str, *, depth: int = 50) -> dict[str, Any] | None:
    """A shortest directed path from one node to another (downstream), else from ``to`` to ``from``.

    None when either node is unknown; ``path`` is [] when none exists within ``depth`` hops.
    """
    a, b = node_by_key(from_id), node_by_key(to_id)
    if a is None or b is None:
        return None
    best: list[int] = []
    for src, dst in ((a, b), (b, a)):
        w = walk(src.pk, depth=depth, direction="downstream")
        if dst.pk not in w.depth:
            continue
        g = nx.DiGraph()
        g.add_edges_from(w.edges)
        best = nx.shortest_path(g, src.pk, dst.pk)
        break
    sub = Walk(start=a.pk, depth={i: 0 for i in best} or {a.pk: 0, b.pk: 0})
    sub.edges = set(zip(best, best[1:], strict=False))
    graph = graph_from_walk(sub)["graph"]
    keys = {n.pk: n.key for n in (a, b)} | {i: n.key for i, n in nodes_by_ids(best).items()}
    ordered = [keys[i] for i in best]
    by_key = {n["id"]: n for n in graph}
    return {
        "from": from_id,
        "to": to_id,
        "found": bool(best),
        "path": ordered,
        "length": max(0, len(ordered) - 1),
        "graph": [by_key[k] for k in ordered] if ordered else graph,
    }
