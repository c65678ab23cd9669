"""Who may record what in the lineage graph.

Any signed-in user may post OpenLineage events: pipelines run under service accounts, and a dataset
nobody registered is found through lineage. But clearance follows the graph (data derived from a
restricted source is only as available as the source), so the graph must not be anyone's to
rewrite (QA G4, G5):

* a job's runs decide its current edges, so only the user who first recorded the job, the users its
  ownership facet names, and staff may post its later runs and job events;
* a catalogued dataset is turned into a model (``datasetType: MODEL``), and its columns rewritten
  from a schema facet, only by someone who may change that dataset, unless lineage found it itself
  and nobody has curated it yet (no versions).
"""

import json
from typing import Any

from django.db import connection

from catalog import selectors as catalog_selectors
from catalog.errors import NotAllowed
from catalog.models import Sensitivity
from lineage.models import EventKind, EventState, LineageEvent, Node, NodeKind
from lineage.nodes import node_key


def owner_usernames(facet: Any) -> list[str]:
    """Usernames named by an ownership facet: ``user:alice``, ``alice`` or ``team:x`` (kept as is)."""
    owners = facet.get("owners") if isinstance(facet, dict) else None
    out = []
    for o in owners if isinstance(owners, list) else []:
        name = o.get("name") if isinstance(o, dict) else None
        if isinstance(name, str) and name:
            out.append(name.split(":", 1)[1] if name.startswith("user:") else name)
    return out


_JOB_RECORDER = f"SELECT recorded_by, facets FROM {Node._meta.db_table} WHERE key = %s AND kind = %s"  # noqa: S608


def check_may_post(kind: str, body: dict, actor) -> None:
    """Refuse (NotAllowed → 403) a run or job event for a job that someone else recorded.

    Called before the event is stored, so a refused event leaves nothing. A job the graph does not
    hold yet is the poster's, unless an event of someone else's for it is still waiting for the fold.
    """
    if kind == EventKind.DATASET or actor is None or actor.is_staff:
        return
    job = body["job"]
    key = node_key("job", job["namespace"], job["name"])
    # Plain SQL: this runs for every posted event, and the ORM compiled this query for longer than
    # the database answered it (a third of a deferred POST's CPU).
    with connection.cursor() as cur:
        cur.execute(_JOB_RECORDER, [key, NodeKind.JOB])
        row = cur.fetchone()
    if row is None:
        recorder = (
            LineageEvent.objects.filter(job_key=key, state=EventState.PENDING)
            .exclude(received_by="")
            .order_by("id")
            .values_list("received_by", flat=True)
            .first()
        )
        owners: list[str] = []
    else:
        recorder, facets = row
        facets = json.loads(facets) if isinstance(facets, str) else facets  # text on both databases
        owners = owner_usernames((facets or {}).get("ownership"))
    if not recorder or actor.get_username() == recorder or actor.get_username() in owners:
        return
    raise NotAllowed(
        f"The job {key} was recorded by {recorder}: only they, the owners its ownership facet names, or "
        "staff may post its runs (its runs decide what its datasets are derived from)."
    )


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
    dataset to whoever posts it, themself included (QA G7)."""
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
