"""Impact: everything downstream of a node, grouped by distance, with whom to tell for each dataset
or model (a dataset's owner and stewards in the catalog, a model's from its ownership facet)."""

from collections import defaultdict
from typing import Any

from catalog.selectors import datasets_by_ids
from lineage.models import NodeKind
from lineage.selectors import catalog_dataset_for, node_by_key, nodes_by_ids
from lineage.walks import walk


def impact(node_id: str, *, depth: int = 20) -> dict[str, Any] | None:
    """Everything downstream of a node grouped by distance, with whom to tell for each dataset/model.

    Owners and stewards of datasets come from the catalog (through its selectors); a model's from
    its ownership facet or whoever recorded its training run.
    """
    node = node_by_key(node_id)
    if node is None:
        if catalog_dataset_for(node_id) is None:
            return None
        return {"nodeId": node_id, "depth": depth, "count": 0, "levels": [], "notify": []}
    w = walk(node.pk, depth=depth, direction="downstream")
    rows = nodes_by_ids([i for i in w.depth if i != node.pk])
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
