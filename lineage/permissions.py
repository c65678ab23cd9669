"""Who may record what in the lineage graph.

Any signed-in user may post OpenLineage events: pipelines run under service accounts, and a dataset
nobody registered is found through lineage. But clearance follows the graph (data derived from a
restricted source is only as available as the source), so the graph must not be anyone's to
rewrite:

* a job's latest run decides its current edges, and taking an edge away can clear what the job
  wrote: when anything upstream of the job is confidential or restricted, only staff and who may
  change every such dataset take its edges away (``guarded_edges``); anyone else's event is kept and
  adds what it names, but the edges stay. (A first version gave a job to its first poster: any user
  could then squat a pipeline's job name and have its lineage refused);
* a catalogued dataset is turned into a model (``datasetType: MODEL``), and its columns rewritten
  from a schema facet, only by someone who may change that dataset, unless lineage found it itself
  and nobody has curated it yet (no versions).
"""

from typing import Any

from django.db import connection

from catalog import selectors as catalog_selectors
from catalog.models import Sensitivity
from lineage.models import Node

# How far up from a job the guard looks for confidential or restricted data (edges, not datasets).
MAX_GUARD_HOPS = 200
_UPSTREAM_DATASETS = (
    "WITH RECURSIVE up(node, depth) AS (SELECT CAST(%s AS BIGINT), 0 UNION"
    " SELECT e.src, u.depth + 1 FROM up u JOIN lineage_edge e ON e.dst = u.node WHERE u.depth < %s)"
    " SELECT DISTINCT n.dataset_id FROM up JOIN lineage_node n ON n.id = up.node WHERE n.dataset_id IS NOT NULL"
)


def owner_usernames(facet: Any) -> list[str]:
    """Usernames named by an ownership facet: ``user:alice``, ``alice`` or ``team:x`` (kept as is)."""
    owners = facet.get("owners") if isinstance(facet, dict) else None
    out = []
    for o in owners if isinstance(owners, list) else []:
        name = o.get("name") if isinstance(o, dict) else None
        if isinstance(name, str) and name:
            out.append(name.split(":", 1)[1] if name.startswith("user:") else name)
    return out


def guarded_edges(job: Node, gone: set[tuple[int, int]], actor) -> set[tuple[int, int]]:
    """Of the edges a run or job event would take away from ``job``, those its poster may not take away.

    Taking an edge away is what can clear data: what the job wrote would no longer be derived from
    what it read. So when anything upstream of the job is confidential or restricted, only staff and
    who may change every such dataset (its owner, a steward) remove the job's edges; for anyone else
    the edges stay, beside whatever the event adds (adding only ever restricts more). The event is
    kept either way: no pipeline's record is refused, and no job name can be squatted.
    """
    if not gone or (actor is not None and actor.is_staff):
        return set()
    with connection.cursor() as cur:
        cur.execute(_UPSTREAM_DATASETS, [job.pk, MAX_GUARD_HOPS])
        ids = [r[0] for r in cur.fetchall()]
    gated = list(
        catalog_selectors.datasets_by_ids(
            ids, sensitivities=(Sensitivity.CONFIDENTIAL, Sensitivity.RESTRICTED)
        ).values()
    )
    if not gated or (
        actor is not None and all(catalog_selectors.may_change_dataset(actor, d) for d in gated)
    ):
        return set()
    return set(gone)


def may_rewrite_dataset(dataset, actor) -> bool:
    """May an event by ``actor`` rewrite what the catalog says of this dataset (its columns from a
    schema facet, its kind from a datasetType facet)? Yes for lineage's own datasets that nobody
    has curated (found through lineage, no versions, not made confidential or restricted); else
    only for who may change the dataset."""
    if (
        dataset.origin == "lineage"
        and dataset.sensitivity not in (Sensitivity.CONFIDENTIAL, Sensitivity.RESTRICTED)
        and not catalog_selectors.dataset_has_versions(dataset)
    ):
        return True
    return actor is not None and catalog_selectors.may_change_dataset(actor, dataset)


def may_name_owner(dataset, actor, username: str, *, registered_now: bool) -> bool:
    """May an ownership facet posted by ``actor`` make ``username`` the owner of this ownerless
    dataset? Only when the poster may change the dataset (staff, a steward) or registered it with
    this very event (a pipeline naming its team on first sight): an event must not hand an ownerless
    dataset to whoever posts it, themself included."""
    if actor is None:
        return True  # a rebuild replaying events recorded before this rule
    if catalog_selectors.may_change_dataset(actor, dataset):
        return True
    return (
        registered_now
        and dataset.origin == "lineage"
        and dataset.sensitivity not in (Sensitivity.CONFIDENTIAL, Sensitivity.RESTRICTED)
    )


def may_declare_model(node: Node, actor) -> bool:
    """May an event by ``actor`` turn this dataset node into a model node?"""
    if node.dataset_id is None:
        return True
    dataset = catalog_selectors.datasets_by_ids([node.dataset_id]).get(node.dataset_id)
    return dataset is None or may_rewrite_dataset(dataset, actor)
