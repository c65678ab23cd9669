"""Reads of lineage: graph walks, history, raw events.

Walks run in the database as one recursive query over the integer edge table (index-only scans on
(src, dst) / (dst, src)); only the part of the graph a query touches comes back to Python, where
networkx does the graph algorithms (paths, export). Every walk is bounded by its depth, so a cycle
(a job that reads and writes the same table) ends like any other path.

Every public read first folds the events still pending (``current``): with LINEAGE_APPLY=deferred
a client that posts an event and then asks sees it, as in sync mode. That is the one write a
selector makes, and it costs one indexed probe when nothing is pending.
"""

import contextvars
import functools
import gc
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet

from catalog.selectors import datasets_by_ids
from lineage import services
from lineage.models import ColumnEdge, Direction, EventState, LineageEvent, Node, NodeKind, Run, RunIO
from lineage.nodes import field_candidates, field_node_id

NODE = Node._meta.db_table
EDGE = "lineage_edge"
MAX_DEPTH = 100


_caught_up = contextvars.ContextVar("lineage_caught_up", default=False)
# Events posted before the last read that it did not wait for (LINEAGE_READ_FOLD_SECONDS ran out):
# lineage.middleware reports them to the client as X-Lineage-Pending.
behind = contextvars.ContextVar("lineage_behind", default=0)


def current(read):
    """Decorate a read: fold the pending events first (``services.catch_up``), once per outermost
    call (a read built of other reads probes once), for at most LINEAGE_READ_FOLD_SECONDS."""

    @functools.wraps(read)
    def wrapper(*args, **kwargs):
        if _caught_up.get():
            return read(*args, **kwargs)
        left = services.catch_up(seconds=settings.LINEAGE_READ_FOLD_SECONDS)
        behind.set(max(behind.get(), left))
        token = _caught_up.set(True)
        try:
            return read(*args, **kwargs)
        finally:
            _caught_up.reset(token)

    return wrapper


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _in(column: str, values: list) -> tuple[str, list]:
    """``column IN (...)`` portable: one array parameter on PostgreSQL, expanded on SQLite."""
    if _pg():
        return f"{column} = ANY(%s)", [list(values)]
    if not values:
        return "1 = 0", []
    return f"{column} IN ({','.join(['%s'] * len(values))})", list(values)


def _chunks(values: list, size: int = 900):
    for i in range(0, len(values), size):
        yield values[i : i + size]


# ---------------------------------------------------------------------------------------------
# Nodes


def _alias(node_id: str) -> str | None:
    """The other spelling of a dataset-or-model node id: one namespace + name is one node, and a
    client may call a model ``dataset:<ns>:<name>`` (as its consumers' events do) or the reverse."""
    for a, b in (("dataset:", "model:"), ("model:", "dataset:")):
        if node_id.startswith(a):
            return b + node_id[len(a) :]
    return None


def _spellings(node_id: str) -> list[str]:
    alias = _alias(node_id)
    return [node_id] if alias is None else [node_id, alias]


@current
def node_exists(node_id: str) -> bool:
    return Node.objects.filter(key__in=_spellings(node_id)).exists()


@current
def node_by_key(node_id: str) -> Node | None:
    """The node of an id, also when asked by its other spelling (dataset: for a model, or back)."""
    found = {n.key: n for n in Node.objects.filter(key__in=_spellings(node_id))}
    return found.get(node_id) or next(iter(found.values()), None)


# ---------------------------------------------------------------------------------------------
# Walks


@dataclass
class Walk:
    """The touched part of the graph: node ids with their distance, and the edges walked."""

    start: int
    depth: dict[int, int] = field(default_factory=dict)  # node id → hops from start (signed: -up)
    edges: set[tuple[int, int]] = field(default_factory=set)


def _walk_sql(direction: str) -> str:
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
        parts.append(_walk_sql("downstream"))
        params += [start, depth]
        selects.append("SELECT 'd', parent, node, depth FROM down")
    if direction in ("upstream", "both"):
        parts.append(_walk_sql("upstream"))
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


def _walk_with_rows(start: int, *, depth: int, direction: str) -> tuple[Walk, dict[int, tuple]]:
    """The walk and the node rows it touched, in one round trip (no list of ids sent back)."""
    depth = max(0, min(int(depth), MAX_DEPTH))
    parts, params, selects, names = [], [], [], []
    # One row shape for both: (tag, parent, node, depth, <13 node columns>), NULL where unused.
    b, t = ", CAST(NULL AS BIGINT)", ", CAST(NULL AS TEXT)"
    pad = b + t * 4 + b + t * 4 + b + t * 2
    if direction in ("downstream", "both"):
        parts.append(_walk_sql("downstream"))
        params += [start, depth]
        selects.append(f"SELECT 'd', parent, node, depth{pad} FROM down")  # noqa: S608
        names.append("down")
    if direction in ("upstream", "both"):
        parts.append(_walk_sql("upstream"))
        params += [start, depth]
        selects.append(f"SELECT 'u', parent, node, depth{pad} FROM up")  # noqa: S608
        names.append("up")
    nodes_of = " UNION ".join(f"SELECT node FROM {n}" for n in names)  # noqa: S608
    pg = _pg()  # PostgreSQL formats times in SQL already
    cols = _GRAPH_COLS_PG if pg else _GRAPH_COLS_LITE
    sql = (
        "WITH RECURSIVE "  # noqa: S608
        + ", ".join(parts)
        + " "
        + " UNION ALL ".join(selects)
        + f" UNION ALL SELECT 'n', NULL, NULL, NULL, {cols} FROM {NODE} WHERE id IN ({nodes_of})"  # noqa: S608
    )
    w = Walk(start=start, depth={start: 0})
    rows: dict[int, tuple] = {}
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for r in cur.fetchall():
            side = r[0]
            if side == "n":
                rows[r[4]] = r[4:17] if pg else (*r[4:15], _stamp(r[15]), _stamp(r[16]))
                continue
            parent, node, d = r[1], r[2], r[3]
            if parent is not None:
                w.edges.add((parent, node) if side == "d" else (node, parent))
            known = w.depth.get(node)
            if known is None or d < abs(known):
                w.depth[node] = d if side == "d" else -d
    return w, rows


@current
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
        for spelling in _spellings(urn):
            asked[spelling].append(urn)
    cond, params = _in("key", list(asked))
    # A model node that stands for a catalog dataset (a dataset some event declared a model) is
    # reported as that dataset: its sensitivity still binds what is derived from it (QA G5).
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


@current
def downstream_nodes(node_id: str, *, depth: int = 20) -> list[tuple[str, str, int]]:
    """(node id, type, distance) of everything downstream of a node, nearest first ([] if unknown)."""
    node = node_by_key(node_id)
    if node is None:
        return []
    w = walk(node.pk, depth=depth, direction="downstream")
    ids = [i for i in w.depth if i != node.pk]
    rows = _node_rows(ids)
    return sorted(
        ((rows[i].key, rows[i].kind, w.depth[i]) for i in ids if i in rows), key=lambda t: (t[2], t[0])
    )


# ---------------------------------------------------------------------------------------------
# Marquez-shaped answers


def _node_rows(ids: list[int]) -> dict[int, Node]:
    out: dict[int, Node] = {}
    fields = (
        "id",
        "kind",
        "key",
        "namespace",
        "name",
        "dataset_id",
        "description",
        "facets",
        "owners",
        "latest_run_id",
        "created_at",
        "updated_at",
    )
    for chunk in _chunks(list(ids), 10_000 if _pg() else 900):
        for n in Node.objects.filter(pk__in=chunk).only(*fields):
            out[n.pk] = n
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def run_data(run: Run, job: Node | None = None) -> dict[str, Any]:
    """A run as Marquez answers it."""
    duration = None
    if run.started_at and run.ended_at:
        duration = int((run.ended_at - run.started_at).total_seconds() * 1000)
    return {
        "id": run.run_id,
        "createdAt": _iso(run.created_at),
        "updatedAt": _iso(run.updated_at),
        "nominalStartTime": _iso(run.nominal_start_time),
        "nominalEndTime": _iso(run.nominal_end_time),
        "state": run.state,
        "startedAt": _iso(run.started_at),
        "endedAt": _iso(run.ended_at),
        "durationMs": duration,
        "args": {},
        "jobId": {"namespace": job.namespace, "name": job.name} if job is not None else None,
        "facets": run.facets,
    }


def _fields(facets: dict) -> list[dict[str, Any]]:
    schema = facets.get("schema") if isinstance(facets, dict) else None
    out = []
    for f in (schema or {}).get("fields") or [] if isinstance(schema, dict) else []:
        if isinstance(f, dict) and f.get("name"):
            out.append(
                {"name": f["name"], "type": f.get("type"), "tags": [], "description": f.get("description")}
            )
    return out


_GRAPH_COLS_PG = (
    "id, kind, key, namespace, name, dataset_id, description, (facets->'schema'->'fields')::text, owners::text,"
    " facets->'version'->>'datasetVersion', latest_run_id,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
)
_GRAPH_COLS_LITE = (
    "id, kind, key, namespace, name, dataset_id, description, json_extract(facets, '$.schema.fields'), owners,"
    " json_extract(facets, '$.version.datasetVersion'), latest_run_id, created_at, updated_at"
)
_GRAPH_SQL_PG = (
    "SELECT id, kind, key, namespace, name, dataset_id, description, (facets->'schema'->'fields')::text,"  # noqa: S608
    " owners::text, facets->'version'->>'datasetVersion', latest_run_id,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    f" FROM {NODE} WHERE id = ANY(%s)"
)
_GRAPH_SQL_LITE = (
    "SELECT id, kind, key, namespace, name, dataset_id, description, json_extract(facets, '$.schema.fields'),"  # noqa: S608
    " owners, json_extract(facets, '$.version.datasetVersion'), latest_run_id, created_at, updated_at"
    f" FROM {NODE} WHERE id IN "
)


def _stamp(value: Any) -> str | None:
    if value is None or isinstance(value, str) and value.endswith("Z"):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.isoformat() + "Z"
    return _iso(value)


def _graph_rows(ids: list[int]) -> dict[int, tuple]:
    """Node rows for a graph answer as plain tuples: no model instances, JSON and times cut in SQL.

    An answer may hold 10,000 nodes; building model objects and parsing every facet would cost
    more than the walk itself.
    """
    out: dict[int, tuple] = {}
    with connection.cursor() as cur:
        if _pg():
            cur.execute(_GRAPH_SQL_PG, [ids])
            rows = cur.fetchall()
        else:
            rows = []
            for chunk in _chunks(ids):
                cur.execute(_GRAPH_SQL_LITE + "(" + ",".join(["%s"] * len(chunk)) + ")", chunk)
                rows += cur.fetchall()
    for r in rows:
        out[r[0]] = (*r[:11], _stamp(r[11]), _stamp(r[12]))
    return out


def _row_fields(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        fields = json.loads(text)
    except ValueError:
        return []
    return (
        [
            {"name": f["name"], "type": f.get("type"), "tags": [], "description": f.get("description")}
            for f in fields
            if isinstance(fields, list) and isinstance(f, dict) and f.get("name")
        ]
        if isinstance(fields, list)
        else []
    )


def graph_from_walk(
    w: Walk, rows: dict[int, tuple] | None = None, *, full_job_io: bool = False
) -> dict[str, Any]:
    """{"graph": [...]} as Marquez answers ``GET /api/v1/lineage``, nodes sorted by id.

    The hot loop of the largest answers (10,000 nodes): plain dict literals, no helper calls per
    node, edge lists sorted only when they hold more than one edge.
    """
    if rows is None:
        rows = _graph_rows(list(w.depth))
    keys = {i: r[2] for i, r in rows.items()}
    ins: dict[int, list[int]] = defaultdict(list)
    outs: dict[int, list[int]] = defaultdict(list)
    for src, dst in w.edges:
        if src in keys and dst in keys:
            outs[src].append(dst)
            ins[dst].append(src)
    job, model = str(NodeKind.JOB), str(NodeKind.MODEL)
    run_ids = [r[10] for r in rows.values() if r[1] == job and r[10]]
    runs = {r.pk: r for r in Run.objects.filter(pk__in=run_ids)} if run_ids else {}
    job_io = _job_io([i for i, r in rows.items() if r[1] == job]) if full_job_io else None
    by_key = keys.__getitem__
    empty: list[int] = []
    graph = []
    append = graph.append
    for i in sorted(rows, key=by_key):
        (
            _id,
            kind,
            key,
            ns,
            name,
            dataset_id,
            description,
            fields,
            owners,
            version,
            run_pk,
            created,
            updated,
        ) = rows[i]
        in_ids = ins.get(i, empty)
        if len(in_ids) > 1:
            in_ids.sort(key=by_key)
        out_ids = outs.get(i, empty)
        if len(out_ids) > 1:
            out_ids.sort(key=by_key)
        if kind == job:
            run = runs.get(run_pk) if run_pk else None
            data = {
                "id": {"namespace": ns, "name": name},
                "name": name,
                "namespace": ns,
                "createdAt": created,
                "updatedAt": updated,
                "description": description or None,
                "type": "BATCH",
                "simpleName": name.rsplit(".", 1)[-1],
                "parentJobName": None,
                "inputs": job_io[0].get(i, [])
                if job_io
                else [{"namespace": rows[x][3], "name": rows[x][4]} for x in in_ids],
                "outputs": job_io[1].get(i, [])
                if job_io
                else [{"namespace": rows[x][3], "name": rows[x][4]} for x in out_ids],
                "location": None,
                "latestRun": run_data(run, _JobRef(ns, name)) if run is not None else None,
            }
        elif kind == model:
            data = {
                "id": {"namespace": ns, "name": name},
                "name": name,
                "namespace": ns,
                "createdAt": created,
                "updatedAt": updated,
                "description": description or None,
                "type": "MODEL",
                "version": version,
                "owners": json.loads(owners) if owners else [],
            }
        else:
            data = {
                "id": {"namespace": ns, "name": name},
                "name": name,
                "namespace": ns,
                "createdAt": created,
                "updatedAt": updated,
                "description": description or None,
                "type": "DB_TABLE",
                "physicalName": name,
                "sourceName": ns,
                "fields": _row_fields(fields) if fields else [],
                "tags": [],
                "lastModifiedAt": None,
                "lastLifecycleState": None,
                "catalogId": dataset_id,
            }
        append(
            {
                "id": key,
                "type": kind,
                "data": data,
                "inEdges": [{"origin": keys[x], "destination": key} for x in in_ids],
                "outEdges": [{"origin": key, "destination": keys[x]} for x in out_ids],
            }
        )
    return {"graph": graph}


def _job_io(job_ids: list[int]) -> tuple[dict[int, list], dict[int, list]]:
    """Every current input and output of these jobs, also those outside the answer ({"namespace",
    "name"}, sorted by node id): Marquez lists a job's whole IO whatever part of the graph is shown."""
    inputs: dict[int, list] = defaultdict(list)
    outputs: dict[int, list] = defaultdict(list)
    if not job_ids:
        return inputs, outputs
    with connection.cursor() as cur:
        for target, other, out in (("dst", "src", inputs), ("src", "dst", outputs)):
            if _pg():
                # unnest + join, not "= ANY": with thousands of ids the planner otherwise picks a
                # parallel hash join over the whole edge table (measured 324 ms vs 127 ms).
                cur.execute(
                    f"SELECT e.{target}, n.key, n.namespace, n.name FROM unnest(%s::bigint[]) j(id)"  # noqa: S608
                    f" JOIN {EDGE} e ON e.{target} = j.id JOIN {NODE} n ON n.id = e.{other}",
                    [job_ids],
                )
                found = cur.fetchall()
            else:
                found = []
                for chunk in _chunks(job_ids):
                    cond, params = _in(f"e.{target}", chunk)
                    cur.execute(
                        f"SELECT e.{target}, n.key, n.namespace, n.name FROM {EDGE} e"  # noqa: S608
                        f" JOIN {NODE} n ON n.id = e.{other} WHERE {cond}",
                        params,
                    )
                    found += cur.fetchall()
            found.sort(key=lambda r: (r[0], r[1]))  # by node id, as Python orders strings
            for job, _key, ns, name in found:
                out[job].append({"namespace": ns, "name": name})
    return inputs, outputs


@dataclass
class _JobRef:
    namespace: str
    name: str


@current
def lineage_graph(
    node_id: str, *, depth: int = 20, direction: str = "both", full_job_io: bool = False
) -> dict[str, Any] | None:
    """The Marquez-shaped lineage around a node, or None when the node is unknown.

    A job's ``data.inputs``/``outputs`` list the datasets inside the answer; with ``full_job_io``
    all its current datasets, as Marquez (two more queries: +40 % on a 10,000-node answer).

    One statement walks the graph and returns the touched node rows with it; the answer is then
    assembled with the garbage collector paused: a 10,000-node answer makes ~100,000 small dicts,
    and collections triggered half-way through would scan them all again and again.
    """
    start = _start_pk(node_id)
    if start is None:
        return _catalog_only_graph(node_id)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        w, rows = _walk_with_rows(start, depth=depth, direction=direction)
        return graph_from_walk(w, rows, full_job_io=full_job_io)
    finally:
        if gc_was_on:
            gc.enable()


def _start_pk(node_id: str) -> int | None:
    found = dict(Node.objects.filter(key__in=_spellings(node_id)).values_list("key", "pk"))
    return found.get(node_id) or next(iter(found.values()), None)


def _catalog_dataset(node_id: str):
    """The catalog dataset a ``dataset:`` node id names (None when it is not one, or unknown)."""
    from catalog.selectors import dataset_by_urn

    if not node_id.startswith("dataset:"):
        return None
    try:
        return dataset_by_urn(node_id)
    except ValidationError:
        return None


def _catalog_only_graph(node_id: str) -> dict[str, Any] | None:
    """A dataset the catalog knows but no event has named yet: a graph of that one node (as
    Marquez answers for a dataset without lineage), not an unknown node."""
    dataset = _catalog_dataset(node_id)
    if dataset is None:
        return None
    fields = [
        {"name": c.name, "type": c.type or None, "description": c.description or None}
        for c in dataset.columns.filter(present=True).order_by("position", "name")
    ]
    row = (
        0,
        str(NodeKind.DATASET),
        node_id,
        dataset.namespace,
        dataset.name,
        dataset.pk,
        dataset.description,
        json.dumps(fields) if fields else None,
        "[]",
        None,
        None,
        _iso(dataset.created_at),
        _iso(dataset.updated_at),
    )
    return graph_from_walk(Walk(start=0, depth={0: 0}), {0: row})


@current
def lineage_graph_bytes(
    node_id: str, *, depth: int = 20, direction: str = "both", full_job_io: bool = False
) -> bytes | None:
    """The answer of ``GET /api/v1/lineage`` as JSON bytes (None when the node is unknown)."""
    graph = lineage_graph(node_id, depth=depth, direction=direction, full_job_io=full_job_io)
    return None if graph is None else orjson.dumps(graph)


# ---------------------------------------------------------------------------------------------
# Impact and paths


@current
def impact(node_id: str, *, depth: int = 20) -> dict[str, Any] | None:
    """Everything downstream of a node grouped by distance, with whom to tell for each dataset/model.

    Owners and stewards of datasets come from the catalog (through its selectors); a model's from
    its ownership facet or whoever recorded its training run.
    """
    node = node_by_key(node_id)
    if node is None:
        if _catalog_dataset(node_id) is None:
            return None
        return {"nodeId": node_id, "depth": depth, "count": 0, "levels": [], "notify": []}
    w = walk(node.pk, depth=depth, direction="downstream")
    rows = _node_rows([i for i in w.depth if i != node.pk])
    catalog = datasets_by_ids([n.dataset_id for n in rows.values() if n.dataset_id])
    levels: dict[int, list[dict[str, Any]]] = defaultdict(list)
    notify: set[str] = set()
    for i, n in rows.items():
        entry: dict[str, Any] = {"id": n.key, "type": n.kind}
        if n.kind == NodeKind.DATASET:
            ds = catalog.get(n.dataset_id)
            owners = [ds.owner.username] if ds is not None and ds.owner_id else []
            stewards = sorted(s.username for s in ds.stewards.all()) if ds is not None else []
            entry.update(owners=owners, stewards=stewards, catalogId=n.dataset_id)
            notify.update(owners, stewards)
        elif n.kind == NodeKind.MODEL:
            entry.update(owners=list(n.owners), stewards=[])
            notify.update(n.owners)
        levels[w.depth[i]].append(entry)
    return {
        "nodeId": node.key,
        "depth": depth,
        "count": len(rows),
        "levels": [
            {"distance": d, "nodes": sorted(levels[d], key=lambda e: e["id"])} for d in sorted(levels)
        ],
        "notify": sorted(notify),
    }


@current
def path_between(from_id: str, to_id: str, *, depth: int = 50) -> dict[str, Any] | None:
    """A shortest directed path from one node to another (downstream), else from ``to`` to ``from``.

    None when either node is unknown; ``path`` is [] when none exists within ``depth`` hops.
    """
    import networkx as nx

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
    keys = {n.pk: n.key for n in (a, b)} | {i: n.key for i, n in _node_rows(best).items()}
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


# ---------------------------------------------------------------------------------------------
# Column lineage


def _column_seeds(node_id: str) -> list[tuple[int, str]] | None:
    """Where a column-lineage walk starts: one field, or (as Marquez) every field of a dataset that
    column lineage knows, for ``dataset:<ns>:<name>``. None when the node is unknown."""
    if node_id.startswith("dataset:"):
        node = node_by_key(node_id)
        if node is None:
            return [] if _catalog_dataset(node_id) is not None else None
        outs = ColumnEdge.objects.filter(out_node=node).values_list("out_field", flat=True)
        ins = ColumnEdge.objects.filter(in_node=node).values_list("in_field", flat=True)
        return [(node.pk, f) for f in sorted(set(outs) | set(ins))]
    candidates = field_candidates(node_id)
    keys = [s for k, _ in candidates for s in _spellings(k)]
    nodes = {n.key: n for n in Node.objects.filter(key__in=keys)}
    for k, fname in candidates:
        node = nodes.get(k) or nodes.get(_alias(k) or "")
        if node is not None and _field_known(node, fname):
            return [(node.pk, fname)]
    return None


def _field_known(node: Node, fname: str) -> bool:
    """Whether a dataset has this field: column lineage names it, its schema facet lists it, or the
    catalog has such a column. An unknown field is a 404, not a made-up node."""
    if any(f["name"] == fname for f in _fields(node.facets)):
        return True
    if (
        ColumnEdge.objects.filter(out_node=node, out_field=fname).exists()
        or ColumnEdge.objects.filter(in_node=node, in_field=fname).exists()
    ):
        return True
    if node.dataset_id is not None:
        from catalog.selectors import datasets_by_ids

        dataset = datasets_by_ids([node.dataset_id]).get(node.dataset_id)
        return dataset is not None and dataset.columns.filter(name=fname).exists()
    return False


@current
def column_lineage(field_id: str, *, depth: int = 20, with_downstream: bool = False) -> dict[str, Any] | None:
    """Marquez-shaped column lineage around ``datasetField:<ns>:<name>:<field>`` (upstream by default),
    or around every known field of ``dataset:<ns>:<name>``."""
    seeds = _column_seeds(field_id)
    if seeds is None:
        return None
    depth = max(0, min(int(depth), MAX_DEPTH))
    seen = dict.fromkeys(seeds, 0)
    edges: list[ColumnEdge] = []
    frontier_up = list(seeds)
    frontier_down = list(seeds) if with_downstream else []
    for _hop in range(depth):
        if not frontier_up and not frontier_down:
            break
        nxt_up, nxt_down = [], []
        for node_pk, fname in frontier_up:
            for e in ColumnEdge.objects.filter(out_node_id=node_pk, out_field=fname):
                edges.append(e)
                k = (e.in_node_id, e.in_field)
                if k not in seen:
                    seen[k] = _hop + 1
                    nxt_up.append(k)
        for node_pk, fname in frontier_down:
            for e in ColumnEdge.objects.filter(in_node_id=node_pk, in_field=fname):
                edges.append(e)
                k = (e.out_node_id, e.out_field)
                if k not in seen:
                    seen[k] = _hop + 1
                    nxt_down.append(k)
        frontier_up, frontier_down = nxt_up, nxt_down
    if not seen:
        return {"graph": []}
    rows = _node_rows(list({k[0] for k in seen}))
    inputs: dict[tuple[int, str], list[ColumnEdge]] = defaultdict(list)
    outputs: dict[tuple[int, str], list[ColumnEdge]] = defaultdict(list)
    unique = {(e.in_node_id, e.in_field, e.out_node_id, e.out_field): e for e in edges}
    for e in unique.values():
        inputs[(e.out_node_id, e.out_field)].append(e)
        outputs[(e.in_node_id, e.in_field)].append(e)

    def fid(pk: int, fname: str) -> str:
        return field_node_id(rows[pk].key, fname)

    def ftype(pk: int, fname: str) -> str | None:
        for f in _fields(rows[pk].facets):
            if f["name"] == fname:
                return f["type"]
        return None

    graph = []
    for pk, fname in seen:
        ins = inputs[(pk, fname)]
        graph.append(
            {
                "id": fid(pk, fname),
                "type": "DATASET_FIELD",
                "data": {
                    "namespace": rows[pk].namespace,
                    "dataset": rows[pk].name,
                    "datasetVersion": None,
                    "field": fname,
                    "fieldType": ftype(pk, fname),
                    "transformationDescription": ins[0].transformation_description or None if ins else None,
                    "transformationType": ins[0].transformation_type or None if ins else None,
                    "inputFields": [
                        {
                            "namespace": rows[e.in_node_id].namespace,
                            "dataset": rows[e.in_node_id].name,
                            "datasetVersion": None,
                            "field": e.in_field,
                            "transformationDescription": e.transformation_description or None,
                            "transformationType": e.transformation_type or None,
                        }
                        for e in ins
                        if e.in_node_id in rows
                    ],
                },
                "inEdges": sorted(
                    (
                        {"origin": fid(e.in_node_id, e.in_field), "destination": fid(pk, fname)}
                        for e in ins
                        if e.in_node_id in rows
                    ),
                    key=lambda x: x["origin"],
                ),
                "outEdges": sorted(
                    (
                        {"origin": fid(pk, fname), "destination": fid(e.out_node_id, e.out_field)}
                        for e in outputs[(pk, fname)]
                        if (e.out_node_id, e.out_field) in seen
                    ),
                    key=lambda x: x["destination"],
                ),
            }
        )
    graph.sort(key=lambda n: n["id"])
    return {"graph": graph}


# ---------------------------------------------------------------------------------------------
# History


@current
def runs_of_dataset(
    node: Node | None, *, direction: str | None = None, version: int | None = None
) -> QuerySet[RunIO]:
    """The runs that wrote (output) or read (input) a dataset, newest first; optionally one version."""
    if node is None:
        return RunIO.objects.none()
    qs = RunIO.objects.filter(node=node).select_related("run", "run__job")
    if direction in (Direction.INPUT, Direction.OUTPUT):
        qs = qs.filter(direction=direction)
    if version is not None:
        qs = qs.filter(version_number=version)
    return qs.order_by("-run__begun_at", "-run_id", "direction")


@current
def dataset_node_for(ref: str) -> Node | None:
    """The node of a dataset given by catalog id, URN (dataset:...) or model:... id."""
    if ref.isdigit():
        return Node.objects.filter(dataset_id=int(ref)).exclude(kind=NodeKind.JOB).first()
    node = node_by_key(ref)
    return None if node is None or node.kind == NodeKind.JOB else node


@current
def run_detail(run_id: str) -> dict[str, Any] | None:
    run = Run.objects.select_related("job").filter(run_id=run_id.lower()).first()
    if run is None:
        return None
    ios = list(run.io.select_related("node").order_by("node__key"))

    def entry(io: RunIO) -> dict[str, Any]:
        return {
            "id": io.node.key,
            "type": io.node.kind,
            "namespace": io.node.namespace,
            "name": io.node.name,
            "version": io.version_label or None,
            "catalogVersion": io.version_number,
            "facets": io.facets,
        }

    return {
        **run_data(run, run.job),
        "job": run.job.key,
        "inputs": [entry(io) for io in ios if io.direction == Direction.INPUT],
        "outputs": [entry(io) for io in ios if io.direction == Direction.OUTPUT],
    }


def events(
    *,
    run_id: str | None = None,
    job: str | None = None,
    event_type: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LineageEvent]:
    qs = LineageEvent.objects.all().order_by("-id")
    if state:
        qs = qs.filter(state=state)
    if run_id:
        qs = qs.filter(run_id=run_id.lower())
    if job:
        qs = qs.filter(job_key=job)
    if event_type:
        qs = qs.filter(event_type=event_type.upper())
    if since:
        qs = qs.filter(event_time__gte=since)
    if until:
        qs = qs.filter(event_time__lte=until)
    return qs


@current
def dataset_facets(dataset_id: int) -> dict[str, Any]:
    """The latest OpenLineage facets reported for a catalog dataset (quality facets shown beside our
    own profile), including the input facets (dataQualityMetrics) of the latest run that read it."""
    node = Node.objects.filter(dataset_id=dataset_id, kind=NodeKind.DATASET).first()
    if node is None:
        return {}
    out = dict(node.facets)
    latest_io = RunIO.objects.filter(node=node).order_by("-run__begun_at", "-id").first()
    if latest_io is not None:
        for k in ("dataQualityMetrics", "dataQualityAssertions"):
            if k in latest_io.facets:
                out[k] = latest_io.facets[k]
    return out


def backlog() -> dict[str, Any]:
    """How far the graph is behind the record: events pending (and the oldest one's arrival) and
    events the graph refused. Counted on the partial index of unapplied events, never the record."""
    pending = LineageEvent.objects.filter(state=EventState.PENDING)
    oldest = pending.order_by("id").values_list("received_at", flat=True).first()
    return {
        "mode": services.apply_mode(),
        "pending": pending.count(),
        "oldestPendingReceivedAt": _iso(oldest),
        "failed": LineageEvent.objects.filter(state=EventState.FAILED).count(),
    }
