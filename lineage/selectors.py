"""Node reads: a node by its id (either spelling of a dataset-or-model), by catalog dataset, by
primary key, and the catalog dataset a node id names.

Lineage reads only read. A view that must answer from every event accepted before its request calls
``lineage.fold.catch_up_for_read()`` once first; other apps call ``lineage.fold.catch_up()``.
"""

from django.core.exceptions import ValidationError

from catalog.selectors import dataset_by_urn
from config.ids import parse_id
from lineage.models import Node, NodeKind
from lineage.nodes import spellings
from lineage.sql import chunks, is_postgres

# What a read of many nodes loads of each (the graph answers need no more).
_NODE_FIELDS = (
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


def node_exists(node_id: str) -> bool:
    return Node.objects.filter(key__in=spellings(node_id)).exists()


def node_by_key(node_id: str) -> Node | None:
    """The node of an id, also when asked by its other spelling (dataset: for a model, or back)."""
    found = {n.key: n for n in Node.objects.filter(key__in=spellings(node_id))}
    return found.get(node_id) or next(iter(found.values()), None)


def node_pk(node_id: str) -> int | None:
    """The primary key of a node id's node (either spelling), None when unknown."""
    found = dict(Node.objects.filter(key__in=spellings(node_id)).values_list("key", "pk"))
    return found.get(node_id) or next(iter(found.values()), None)


def dataset_node_for(ref: str) -> Node | None:
    """The node of a dataset given by catalog id, URN (dataset:...) or model:... id."""
    if ref.isascii() and ref.isdigit():
        pk = parse_id(ref)
        if pk is None:  # more digits than any id has
            return None
        return Node.objects.filter(dataset_id=pk).exclude(kind=NodeKind.JOB).first()
    node = node_by_key(ref)
    return None if node is None or node.kind == NodeKind.JOB else node


def nodes_by_ids(ids: list[int]) -> dict[int, Node]:
    """{id: node} of these node ids (those that exist), in as few queries as the database allows."""
    out: dict[int, Node] = {}
    for chunk in chunks(list(ids), 10_000 if is_postgres() else 900):
        for n in Node.objects.filter(pk__in=chunk).only(*_NODE_FIELDS):
            out[n.pk] = n
    return out


def catalog_dataset_for(node_id: str):
    """The catalog dataset a ``dataset:`` node id names (None when it is not one, or unknown): a
    dataset the catalog knows but no event has named yet is not an unknown node."""
    if not node_id.startswith("dataset:"):
        return None
    try:
        return dataset_by_urn(node_id)
    except ValidationError:
        return None
