"""The nodes an event names, found or created while it is applied to the graph.

One namespace + name is one node, whatever an event says of its type. Dataset nodes are linked to
the catalog's datasets, registered there through ``catalog.services.ensure_datasets`` when new. Job
and run rows are read and locked in one statement each: every run event needs them.
"""

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC

from django.db import IntegrityError, connection, transaction
from django.utils.dateparse import parse_datetime

from catalog import services as catalog_services
from lineage import permissions
from lineage.models import Node, NodeKind, Run, RunIO
from lineage.nodes import node_key
from lineage.signals import send_graph_changed_on_commit


def _dataset_type(facets: dict) -> str:
    facet = facets.get("datasetType") if isinstance(facets, dict) else None
    value = facet.get("datasetType") if isinstance(facet, dict) else None
    return str(value).upper() if value else ""


def job_node(namespace: str, name: str) -> Node:
    """The job's node, created when new, locked for this transaction: runs of a job apply one by one.
    Within a batch (``remembering_nodes``) a job is read and locked once: lineage.apply keeps the
    object (facets, latest run and when it began) up to date as it applies the batch's events."""
    key = node_key("job", namespace, name)
    memo = _batch_nodes.get()
    if memo is not None and (known := memo.get(key)) is not None:
        return known
    node = _locked_job(key)
    if node is None:
        try:
            with transaction.atomic():
                Node.objects.create(kind=NodeKind.JOB, key=key, namespace=namespace, name=name)
        except IntegrityError:
            pass  # created concurrently; lock the winner's row below
        node = _locked_job(key)
    _remember(key, node)
    return node


_JOB_WITH_LATEST = (
    "SELECT {cols}, r.begun_at AS latest_begun FROM lineage_node n"  # noqa: S608 -- constants only
    " LEFT JOIN lineage_run r ON r.id = n.latest_run_id WHERE n.key = %s"
)


def _locked_job(key: str) -> Node | None:
    """The job row, locked, with its latest run's begun_at (``latest_begun``) read in the same
    statement: every run event needs both, and this is the hot path of ingestion (plain SQL: the
    ORM spent longer compiling this join than the database answering it)."""
    cols = ", ".join(f"n.{f.column}" for f in Node._meta.concrete_fields)
    # Lock the job row only (the run is on the nullable side of the join); SQLite serialises writes.
    lock = " FOR UPDATE OF n" if connection.vendor == "postgresql" else ""
    node = next(iter(Node.objects.raw(_JOB_WITH_LATEST.format(cols=cols) + lock, [key])), None)
    if node is not None and node.latest_begun is not None:
        begun = node.latest_begun  # SQLite: naive (UTC), as text or datetime
        begun = parse_datetime(begun) if isinstance(begun, str) else begun
        node.latest_begun = begun.replace(tzinfo=UTC) if begun is not None and begun.tzinfo is None else begun
    return node


_RUN_WITH_IO = (
    "SELECT {cols}, io.id AS io_id, io.node_id AS io_node, io.direction AS io_direction,"  # noqa: S608
    " io.version_label AS io_label, io.version_number AS io_number, io.facets AS io_facets"
    " FROM lineage_run r LEFT JOIN lineage_runio io ON io.run_id = r.id WHERE r.run_id = %s"
)


def locked_run(run_id: str) -> tuple[Run | None, dict[tuple[int, str], RunIO]]:
    """A run (locked) and what it already read and wrote, in one statement → (run or None, {(node
    id, direction): RunIO})."""
    cols = ", ".join(f"r.{f.column}" for f in Run._meta.concrete_fields)
    sql = _RUN_WITH_IO.format(cols=cols) + (" FOR UPDATE OF r" if connection.vendor == "postgresql" else "")
    run = None
    existing: dict[tuple[int, str], RunIO] = {}
    for row in Run.objects.raw(sql, [run_id]):
        run = run or row
        if row.io_id is None:
            continue
        facets = json.loads(row.io_facets) if isinstance(row.io_facets, str) else row.io_facets
        io = RunIO(
            id=row.io_id,
            run_id=run.pk,
            node_id=row.io_node,
            direction=row.io_direction,
            version_label=row.io_label,
            version_number=row.io_number,
            facets=facets or {},
        )
        io._state.adding = False
        existing[(io.node_id, io.direction)] = io
    return run, existing


def resolve_datasets(specs: list[tuple[str, str, dict]], actor=None) -> dict[tuple[str, str], Node]:
    """Nodes for (namespace, name, facets) datasets, registering unknown ones in the catalog.

    One namespace + name is ONE node, whatever the event says of its type: a MODEL node is found
    by consumers that name it without the datasetType facet, and a dataset node that an event
    declares MODEL becomes the model node (same id, so its edges and history stay). One query finds
    the known nodes; the new ones are registered in the catalog and inserted in bulk, in key order
    (two events naming the same new datasets never wait on each other crosswise).
    """
    wanted: dict[tuple[str, str], bool] = {}
    for ns, name, facets in specs:
        wanted[(ns, name)] = wanted.get((ns, name), False) or _dataset_type(facets) == "MODEL"
    if not wanted:
        return {}
    keys = [node_key(k, ns, name) for ns, name in wanted for k in ("dataset", "model")]
    found = _known_nodes(keys)
    out: dict[tuple[str, str], Node] = {}
    new: list[tuple[str, str, bool]] = []
    unlinked: list[Node] = []
    for (ns, name), is_model in sorted(wanted.items()):
        node = found.get(node_key("model", ns, name))
        if node is None:
            node = found.get(node_key("dataset", ns, name))
            if node is not None and is_model and permissions.may_declare_model(node, actor):
                _remember(node.key, None)
                node.kind, node.key = NodeKind.MODEL, node_key("model", ns, name)
                Node.objects.filter(pk=node.pk).update(kind=node.kind, key=node.key)
                _remember(node.key, node)
                send_graph_changed_on_commit()
        if node is None:
            new.append((ns, name, is_model))
            continue
        if node.kind == NodeKind.DATASET and node.dataset_id is None:
            unlinked.append(node)
        out[(ns, name)] = node
    catalog_pairs = [(ns, name) for ns, name, is_model in new if not is_model]
    catalog_pairs += [(n.namespace, n.name) for n in unlinked]
    datasets = (
        catalog_services.ensure_datasets(catalog_pairs, via="lineage", actor=actor) if catalog_pairs else {}
    )
    for node in unlinked:
        ds = datasets.get((node.namespace, node.name))
        if ds is not None:
            node.dataset_id = ds.pk
            Node.objects.filter(pk=node.pk).update(dataset_id=ds.pk)
            send_graph_changed_on_commit()  # a node of the graph now stands for a catalog dataset
    if new:
        rows = []
        for ns, name, is_model in new:
            ds = None if is_model else datasets.get((ns, name))
            rows.append(
                Node(
                    kind=NodeKind.MODEL if is_model else NodeKind.DATASET,
                    key=node_key("model" if is_model else "dataset", ns, name),
                    namespace=ns,
                    name=name,
                    dataset_id=ds.pk if ds is not None else None,
                )
            )
        # Concurrent events may insert the same nodes: conflicts are skipped, then all are read back.
        Node.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        new_keys = [r.key for r in rows]
        by_key: dict[str, Node] = {}
        for i in range(0, len(new_keys), 900):
            by_key.update((n.key, n) for n in Node.objects.filter(key__in=new_keys[i : i + 900]))
        for row in rows:
            node = by_key[row.key]
            # Who registered it (not a column): their event's ownership facet may name its owner.
            node.registered_by = getattr(actor, "username", None)
            out[(row.namespace, row.name)] = node
            _remember(row.key, node)
    return out


# Within one fold batch: the dataset, model and job nodes already looked up, by key (None: known not
# to exist; jobs only once found, locked). Node rows are written only while an event is applied
# (lineage.apply*), which keeps the objects (facets, kind, catalog link, a job's latest run) and this
# map up to date, so a batch naming the same datasets and jobs again reads them once.
_batch_nodes: contextvars.ContextVar[dict[str, Node | None] | None] = contextvars.ContextVar(
    "lineage_batch_nodes", default=None
)
# Within one fold batch: the catalog version number each (dataset id, version label) matched, or None.
# Applying events never writes catalog versions.
_batch_versions: contextvars.ContextVar[dict[tuple[int, str], int | None] | None] = contextvars.ContextVar(
    "lineage_batch_versions", default=None
)


@contextmanager
def remembering_nodes() -> Iterator[None]:
    """Within this block (one fold batch, in one transaction), each dataset, model or job node is
    looked up once, and each version label of a dataset matched once."""
    token = _batch_nodes.set({})
    versions = _batch_versions.set({})
    try:
        yield
    finally:
        _batch_versions.reset(versions)
        _batch_nodes.reset(token)


def forget_nodes() -> None:
    """An event's writes were rolled back: forget the nodes it created or changed."""
    for memo in (_batch_nodes.get(), _batch_versions.get()):
        if memo is not None:
            memo.clear()


def matched_versions() -> dict[tuple[int, str], int | None] | None:
    """This batch's version matches ({(dataset id, label): number or None}), None outside a batch."""
    return _batch_versions.get()


def _known_nodes(keys: list[str]) -> dict[str, Node]:
    """{key: node} of those keys that exist (asking the database only for keys this batch has not
    looked up yet)."""
    memo = _batch_nodes.get()
    ask = keys if memo is None else [k for k in keys if k not in memo]
    found: dict[str, Node] = {}
    for i in range(0, len(ask), 900):
        found.update((n.key, n) for n in Node.objects.filter(key__in=ask[i : i + 900]))
    if memo is None:
        return found
    for key in ask:
        memo[key] = found.get(key)
    return {k: node for k in keys if (node := memo[k]) is not None}


def _remember(key: str, node: Node | None) -> None:
    memo = _batch_nodes.get()
    if memo is not None:
        memo[key] = node
