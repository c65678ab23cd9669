"""Impact: everything downstream of a node, grouped by distance, with whom to tell for each dataset
or model (a dataset's owner and stewards in the catalog -- the members of its owner and steward
groups too --, a model's from its ownership facet)."""

from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model

from catalog.selectors import answerable_people, datasets_by_ids
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
    members = _team_members(catalog)
    levels: dict[int, list[dict[str, Any]]] = defaultdict(list)
    notify: set[str] = set()
    for i, n in rows.items():
        entry: dict[str, Any] = {"id": n.key, "type": n.kind}
        if n.kind == NodeKind.DATASET:
            ds = catalog.get(n.dataset_id)
            owners = [ds.owner.username] if ds is not None and ds.owner_id else []
            stewards = sorted(s.username for s in ds.stewards.all()) if ds is not None else []
            entry.update(owners=owners, stewards=stewards, catalogId=n.dataset_id)
            if ds is not None and (ds.owner_group_id or members.get(ds.pk)):
                # Teams: the groups by name, and their members, who are told as owners and stewards are.
                entry.update(
                    ownerGroup=ds.owner_group.name if ds.owner_group_id else None,
                    stewardGroups=sorted(g.name for g in ds.steward_groups.all()),
                    teamMembers=members.get(ds.pk, []),
                )
            notify.update(owners, stewards, entry.get("teamMembers", []))
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


def _team_members(catalog: dict) -> dict[int, list[str]]:
    """{dataset id: usernames of the people acting for it through a group only}."""
    people = answerable_people(catalog.values())
    ids = {uid for owners, stewards in people.values() for uid in owners | stewards}
    names = dict(get_user_model().objects.filter(pk__in=ids, is_active=True).values_list("pk", "username"))
    out = {}
    for pk, (owners, stewards) in people.items():
        ds = catalog[pk]
        named = {ds.owner_id, *(s.pk for s in ds.stewards.all())}
        through = sorted(names[u] for u in (owners | stewards) - named if u in names)
        if through:
            out[pk] = through
    return out
