"""Answers in Marquez's shape: the lineage graph around a node (``GET /api/v1/lineage``) and a run.

Clients written for Marquez read these answers as they are: the same node ids, the same ``data``
fields per node type, in and out edges on every node. An answer may hold 10,000 nodes, so its rows
come back as plain tuples with JSON and times already cut in SQL, and its dicts are built without
model instances.
"""

import gc
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection

from lineage.models import Node, NodeKind, Run
from lineage.selectors import catalog_dataset_for, node_pk
from lineage.sql import EDGE, NODE, chunks, in_list, is_postgres
from lineage.walks import MAX_DEPTH, Walk, walk_cte


def iso(value: datetime | None) -> str | None:
    """A time as Marquez writes it (ISO 8601, ``Z`` for UTC)."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def run_data(run: Run, job: Node | None = None) -> dict[str, Any]:
    """A run as Marquez answers it."""
    duration = None
    if run.started_at and run.ended_at:
        duration = int((run.ended_at - run.started_at).total_seconds() * 1000)
    return {
        "id": run.run_id,
        "createdAt": iso(run.created_at),
        "updatedAt": iso(run.updated_at),
        "nominalStartTime": iso(run.nominal_start_time),
        "nominalEndTime": iso(run.nominal_end_time),
        "state": run.state,
        "startedAt": iso(run.started_at),
        "endedAt": iso(run.ended_at),
        "durationMs": duration,
        "args": {},
        "jobId": {"namespace": job.namespace, "name": job.name} if job is not None else None,
        "facets": run.facets,
    }


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
    return iso(value)


def _graph_rows(ids: list[int]) -> dict[int, tuple]:
    """Node rows for a graph answer as plain tuples: no model instances, JSON and times cut in SQL.

    An answer may hold 10,000 nodes; building model objects and parsing every facet would cost
    more than the walk itself.
    """
    out: dict[int, tuple] = {}
    with connection.cursor() as cur:
        if is_postgres():
            cur.execute(_GRAPH_SQL_PG, [ids])
            rows = cur.fetchall()
        else:
            rows = []
            for chunk in chunks(ids):
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

    The hot loop of the largest answers (10,000 nodes): plain dict literals, one builder call per
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
        row = rows[i]
        kind, key = row[1], row[2]
        in_ids = ins.get(i, empty)
        if len(in_ids) > 1:
            in_ids.sort(key=by_key)
        out_ids = outs.get(i, empty)
        if len(out_ids) > 1:
            out_ids.sort(key=by_key)
        if kind == job:
            if job_io:
                io = (job_io[0].get(i, []), job_io[1].get(i, []))
            else:
                io = ([_ref(rows[x]) for x in in_ids], [_ref(rows[x]) for x in out_ids])
            data = _job_data(row, runs, *io)
        elif kind == model:
            data = _model_data(row)
        else:
            data = _dataset_data(row)
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


def _ref(row: tuple) -> dict[str, str]:
    return {"namespace": row[3], "name": row[4]}


def _job_data(row: tuple, runs: dict[int, Run], inputs: list, outputs: list) -> dict[str, Any]:
    _id, _kind, _key, ns, name, _ds, description, _f, _o, _v, run_pk, created, updated = row
    run = runs.get(run_pk) if run_pk else None
    return {
        "id": {"namespace": ns, "name": name},
        "name": name,
        "namespace": ns,
        "createdAt": created,
        "updatedAt": updated,
        "description": description or None,
        "type": "BATCH",
        "simpleName": name.rsplit(".", 1)[-1],
        "parentJobName": None,
        "inputs": inputs,
        "outputs": outputs,
        "location": None,
        "latestRun": run_data(run, _JobRef(ns, name)) if run is not None else None,
    }


def _model_data(row: tuple) -> dict[str, Any]:
    _id, _kind, _key, ns, name, _ds, description, _f, owners, version, _r, created, updated = row
    return {
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


def _dataset_data(row: tuple) -> dict[str, Any]:
    _id, _kind, _key, ns, name, dataset_id, description, fields, _o, _v, _r, created, updated = row
    return {
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


def _job_io(job_ids: list[int]) -> tuple[dict[int, list], dict[int, list]]:
    """Every current input and output of these jobs, also those outside the answer ({"namespace",
    "name"}, sorted by node id): Marquez lists a job's whole IO whatever part of the graph is shown."""
    inputs: dict[int, list] = defaultdict(list)
    outputs: dict[int, list] = defaultdict(list)
    if not job_ids:
        return inputs, outputs
    with connection.cursor() as cur:
        for target, other, out in (("dst", "src", inputs), ("src", "dst", outputs)):
            if is_postgres():
                # unnest + join, not "= ANY": with thousands of ids the planner otherwise picks a
                # parallel hash join over the whole edge table, several times slower.
                cur.execute(
                    f"SELECT e.{target}, n.key, n.namespace, n.name FROM unnest(%s::bigint[]) j(id)"  # noqa: S608
                    f" JOIN {EDGE} e ON e.{target} = j.id JOIN {NODE} n ON n.id = e.{other}",
                    [job_ids],
                )
                found = cur.fetchall()
            else:
                found = []
                for chunk in chunks(job_ids):
                    cond, params = in_list(f"e.{target}", chunk)
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


def lineage_graph(
    node_id: str, *, depth: int = 20, direction: str = "both", full_job_io: bool = False
) -> dict[str, Any] | None:
    """The Marquez-shaped lineage around a node, or None when the node is unknown.

    A job's ``data.inputs``/``outputs`` list the datasets inside the answer; with ``full_job_io``
    all its current datasets, as Marquez (two more queries, and a slower answer when it is large).

    One statement walks the graph and returns the touched node rows with it; the answer is then
    assembled with the garbage collector paused: a 10,000-node answer makes ~100,000 small dicts,
    and collections triggered half-way through would scan them all again and again.
    """
    start = node_pk(node_id)
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


def _walk_with_rows(start: int, *, depth: int, direction: str) -> tuple[Walk, dict[int, tuple]]:
    """The walk and the node rows it touched, in one round trip (no list of ids sent back)."""
    depth = max(0, min(int(depth), MAX_DEPTH))
    parts, params, selects, names = [], [], [], []
    # One row shape for both: (tag, parent, node, depth, <13 node columns>), NULL where unused.
    b, t = ", CAST(NULL AS BIGINT)", ", CAST(NULL AS TEXT)"
    pad = b + t * 4 + b + t * 4 + b + t * 2
    if direction in ("downstream", "both"):
        parts.append(walk_cte("downstream"))
        params += [start, depth]
        selects.append(f"SELECT 'd', parent, node, depth{pad} FROM down")  # noqa: S608
        names.append("down")
    if direction in ("upstream", "both"):
        parts.append(walk_cte("upstream"))
        params += [start, depth]
        selects.append(f"SELECT 'u', parent, node, depth{pad} FROM up")  # noqa: S608
        names.append("up")
    nodes_of = " UNION ".join(f"SELECT node FROM {n}" for n in names)  # noqa: S608
    pg = is_postgres()  # PostgreSQL formats times in SQL already
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


def _catalog_only_graph(node_id: str) -> dict[str, Any] | None:
    """A dataset the catalog knows but no event has named yet: a graph of that one node (as
    Marquez answers for a dataset without lineage), not an unknown node."""
    dataset = catalog_dataset_for(node_id)
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
        iso(dataset.created_at),
        iso(dataset.updated_at),
    )
    return graph_from_walk(Walk(start=0, depth={0: 0}), {0: row})


def lineage_graph_bytes(
    node_id: str, *, depth: int = 20, direction: str = "both", full_job_io: bool = False
) -> bytes | None:
    """The answer of ``GET /api/v1/lineage`` as JSON bytes (None when the node is unknown)."""
    graph = lineage_graph(node_id, depth=depth, direction=direction, full_job_io=full_job_io)
    return None if graph is None else orjson.dumps(graph)
