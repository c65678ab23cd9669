"""Column lineage in Marquez's shape: which fields of which datasets a field was derived from (and,
asked for, what was derived from it), following the columnLineage facets of jobs' latest runs."""

from collections import defaultdict
from typing import Any

from catalog.selectors import datasets_by_ids
from lineage.models import ColumnEdge, Node
from lineage.nodes import alias, field_candidates, field_node_id, spellings
from lineage.selectors import catalog_dataset_for, node_by_key, nodes_by_ids
from lineage.walks import MAX_DEPTH

Field = tuple[int, str]  # (dataset node id, field name)


def _schema_fields(facets: dict) -> list[dict[str, Any]]:
    """The fields a schema facet lists (name, type, description), as Marquez writes them."""
    schema = facets.get("schema") if isinstance(facets, dict) else None
    out = []
    for f in (schema or {}).get("fields") or [] if isinstance(schema, dict) else []:
        if isinstance(f, dict) and f.get("name"):
            out.append(
                {"name": f["name"], "type": f.get("type"), "tags": [], "description": f.get("description")}
            )
    return out


def _column_seeds(node_id: str) -> list[Field] | None:
    """Where a column-lineage walk starts: one field, or (as Marquez) every field of a dataset that
    column lineage knows, for ``dataset:<ns>:<name>``. None when the node is unknown."""
    if node_id.startswith("dataset:"):
        node = node_by_key(node_id)
        if node is None:
            return [] if catalog_dataset_for(node_id) is not None else None
        outs = ColumnEdge.objects.filter(out_node=node).values_list("out_field", flat=True)
        ins = ColumnEdge.objects.filter(in_node=node).values_list("in_field", flat=True)
        return [(node.pk, f) for f in sorted(set(outs) | set(ins))]
    candidates = field_candidates(node_id)
    keys = [s for k, _ in candidates for s in spellings(k)]
    nodes = {n.key: n for n in Node.objects.filter(key__in=keys)}
    for k, fname in candidates:
        node = nodes.get(k) or nodes.get(alias(k) or "")
        if node is not None and _field_known(node, fname):
            return [(node.pk, fname)]
    return None


def _field_known(node: Node, fname: str) -> bool:
    """Whether a dataset has this field: column lineage names it, its schema facet lists it, or the
    catalog has such a column. An unknown field is a 404, not a made-up node."""
    if any(f["name"] == fname for f in _schema_fields(node.facets)):
        return True
    if (
        ColumnEdge.objects.filter(out_node=node, out_field=fname).exists()
        or ColumnEdge.objects.filter(in_node=node, in_field=fname).exists()
    ):
        return True
    if node.dataset_id is not None:
        dataset = datasets_by_ids([node.dataset_id]).get(node.dataset_id)
        return dataset is not None and dataset.columns.filter(name=fname).exists()
    return False


def column_lineage(field_id: str, *, depth: int = 20, with_downstream: bool = False) -> dict[str, Any] | None:
    """Marquez-shaped column lineage around ``datasetField:<ns>:<name>:<field>`` (upstream by default),
    or around every known field of ``dataset:<ns>:<name>``."""
    seeds = _column_seeds(field_id)
    if seeds is None:
        return None
    seen, edges = _walk_columns(seeds, max(0, min(int(depth), MAX_DEPTH)), with_downstream)
    if not seen:
        return {"graph": []}
    return {"graph": _field_graph(seen, edges)}


def _walk_columns(
    seeds: list[Field], depth: int, with_downstream: bool
) -> tuple[dict[Field, int], list[ColumnEdge]]:
    """({field: hops from the seeds}, column edges walked), hop by hop up (and down) to ``depth``."""
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
    return seen, edges


def _field_graph(seen: dict[Field, int], edges: list[ColumnEdge]) -> list[dict[str, Any]]:
    """One DATASET_FIELD node per field seen, with its input fields and edges, sorted by id."""
    rows = nodes_by_ids(list({k[0] for k in seen}))
    inputs: dict[Field, list[ColumnEdge]] = defaultdict(list)
    outputs: dict[Field, list[ColumnEdge]] = defaultdict(list)
    unique = {(e.in_node_id, e.in_field, e.out_node_id, e.out_field): e for e in edges}
    for e in unique.values():
        inputs[(e.out_node_id, e.out_field)].append(e)
        outputs[(e.in_node_id, e.in_field)].append(e)

    def fid(pk: int, fname: str) -> str:
        return field_node_id(rows[pk].key, fname)

    graph = []
    for pk, fname in seen:
        ins = [e for e in inputs[(pk, fname)] if e.in_node_id in rows]
        graph.append(
            {
                "id": fid(pk, fname),
                "type": "DATASET_FIELD",
                "data": _field_data(rows, pk, fname, inputs[(pk, fname)]),
                "inEdges": sorted(
                    ({"origin": fid(e.in_node_id, e.in_field), "destination": fid(pk, fname)} for e in ins),
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
    return graph


def _field_data(rows: dict[int, Node], pk: int, fname: str, ins: list[ColumnEdge]) -> dict[str, Any]:
    """A field's ``data``: where it is, its type (from the schema facet) and the fields it came from."""
    node = rows[pk]
    return {
        "namespace": node.namespace,
        "dataset": node.name,
        "datasetVersion": None,
        "field": fname,
        "fieldType": next((f["type"] for f in _schema_fields(node.facets) if f["name"] == fname), None),
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
    }
