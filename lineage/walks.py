"""Graph walks in the database: one recursive query over the integer edge table (index-only scans
on (src, dst) / (dst, src)); only the part of the graph a query touches comes back to Python.

Every walk is bounded by its depth, so a cycle (a job that reads and writes the same table) ends
like any other path.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from lineage.nodes import spellings
from lineage.selectors import node_by_key, nodes_by_ids
from lineage.sql import EDGE, NODE, in_list

MAX_DEPTH = 100


@dataclass
class Walk:
    """The touched part of the graph: node ids with their distance, and the edges walked."""

    start: int
    depth: dict[int, int] = field(default_factory=dict)  # node id → hops from start (signed: -up)
    edges: set[tuple[int, int]] = field(default_factory=set)


def walk_cte(direction: str) -> str:
    """The recursive part of a walk from a start node (parameters: start id, depth) as ``down`` or
    ``up`` (parent, node, depth)."""
    if direction == "downstream":
        return (
            "down(parent, node, depth) AS (SELECT CAST(NULL AS BIGINT), CAST(%s AS BIGINT), 0 UNION "  # noqa: S608
            f"SELECT w.node, e.dst, w.depth + 1 FROM down w JOIN {EDGE} e ON e.src = w.node WHERE w.depth < %s)"
        )
    return (
        "up(parent, node, depth) AS (SELECT CAST(NULL AS BIGINT), CAST(%s AS BIGINT), 0 UNION "  # noqa: S608
        f"SELECT w.node, e.src, w.depth + 1 FROM up w JOIN {EDGE} e ON e.dst = w.node WHERE w.depth < %s)"
    )


def walk(start: int, *, depth: int, direction: str = "both") -> Walk:
    """Every node within ``depth`` hops of ``start`` (downstream, upstream or both) in one query."""
    depth = max(0, min(int(depth), MAX_DEPTH))
    parts, params, selects = [], [], []
    if direction in ("downstream", "both"):
        parts.append(walk_cte("downstream"))
        params += [start, depth]
        selects.append("SELECT 'd', parent, node, depth FROM down")
    if direction in ("upstream", "both"):
        parts.append(walk_cte("upstream"))
        params += [start, depth]
        selects.append("SELECT 'u', parent, node, depth FROM up")
    sql = "WITH RECURSIVE " + ", ".join(parts) + " " + " UNION ALL ".join(selects)
    result = Walk(start=start, depth={start: 0})
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for side, parent, node, d in cur.fetchall():
            if parent is not None:
                result.edges.add((parent, node) if side == "d" else (node, parent))
            known = result.depth.get(node)
            if known is None or d < abs(known):
                result.depth[node] = d if side == "d" else -d
    return result


def upstream_datasets(urns: list[str], *, depth: int = 50) -> dict[str, list[str]]:
    """For each dataset URN, the URNs of every DATASET upstream of it (through jobs), nearest first.

    One recursive query for all URNs together. ``depth`` counts datasets, so the walk takes twice as
    many hops (dataset → job → dataset). Unknown URNs map to [].
    """
    out: dict[str, list[str]] = {u: [] for u in urns}
    if not urns:
        return out
    hops = max(0, min(int(depth), MAX_DEPTH)) * 2
    # A URN may name a model (dataset:<ns>:<name> of a MODEL node): its upstream is its training
    # data, and data scored by the model sees through it (model nodes are walked like jobs).
    asked: dict[str, list[str]] = defaultdict(list)
    for urn in dict.fromkeys(urns):
        for spelling in spellings(urn):
            asked[spelling].append(urn)
    cond, params = in_list("key", list(asked))
    # A model node that stands for a catalog dataset (a dataset some event declared a model) is
    # reported as that dataset: its sensitivity still binds what is derived from it.
    as_dataset = "CASE WHEN n.kind = 'MODEL' THEN 'dataset:' || n.namespace || ':' || n.name ELSE n.key END"
    sql = (
        "WITH RECURSIVE up(origin, node, depth) AS ("  # noqa: S608 -- table names are constants
        f" SELECT id, id, 0 FROM {NODE} WHERE {cond} AND kind IN ('DATASET', 'MODEL')"
        f" UNION SELECT w.origin, e.src, w.depth + 1 FROM up w JOIN {EDGE} e ON e.dst = w.node"
        "  WHERE w.depth < %s)"
        f" SELECT o.key, {as_dataset} AS k, MIN(w.depth) AS d FROM up w JOIN {NODE} n ON n.id = w.node"
        f" JOIN {NODE} o ON o.id = w.origin"
        " WHERE (n.kind = 'DATASET' OR (n.kind = 'MODEL' AND n.dataset_id IS NOT NULL))"
        " AND w.node <> w.origin"
        " GROUP BY o.key, k ORDER BY o.key, d, k"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [*params, hops])
        rows = cur.fetchall()
    if len({origin for origin, _k, _d in rows}) == len({u for o, *_ in rows for u in asked[o]}):
        for origin, key, _d in rows:  # the common case: one node per URN asked, rows already ordered
            for urn in asked[origin]:
                out[urn].append(key)
        return out
    best: dict[str, dict[str, int]] = defaultdict(dict)
    for origin, key, d in rows:
        for urn in asked[origin]:
            if key != urn and d < best[urn].get(key, d + 1):
                best[urn][key] = d
    for urn, found in best.items():
        out[urn] = sorted(found, key=lambda k: (found[k], k))
    return out


def downstream_nodes(node_id: str, *, depth: int = 20) -> list[tuple[str, str, int]]:
    """(node id, type, distance) of everything downstream of a node, nearest first ([] if unknown)."""
    node = node_by_key(node_id)
    if node is None:
        return []
    w = walk(node.pk, depth=depth, direction="downstream")
    ids = [i for i in w.depth if i != node.pk]
    rows = nodes_by_ids(ids)
    return sorted(
        ((rows[i].key, rows[i].kind, w.depth[i]) for i in ids if i in rows), key=lambda t: (t[2], t[0])
    )
