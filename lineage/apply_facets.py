"""Facets an event carries, kept on its nodes and pushed to the catalog where the poster may.

A dataset's schema, ownership and documentation facets reach its catalog dataset (through
catalog.services, judged by lineage.permissions); a version facet is matched to a catalog version.
Only facets that changed since the node last saw them are applied.
"""

import re
from typing import Any

from django.contrib.auth import get_user_model

from catalog import columns as catalog_columns
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from lineage import permissions
from lineage.apply_nodes import matched_versions
from lineage.models import Node, NodeKind

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _schema_columns(facet: dict) -> list[dict[str, Any]] | None:
    fields = facet.get("fields") if isinstance(facet, dict) else None
    if not isinstance(fields, list):
        return None
    cols = []
    for f in fields:
        if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"]:
            cols.append(
                {
                    "name": f["name"],
                    "type": str(f.get("type") or "")[:50],
                    "description": str(f.get("description") or ""),
                }
            )
    return cols


def apply_dataset_facets(node: Node, facets: dict, actor=None) -> None:
    """Keep the latest facets on the node; push schema, ownership and documentation to the catalog.

    Only facets that changed since the node last saw them are applied, so a steady stream of events
    about the same dataset costs one comparison, not a catalog write each.
    """
    if not isinstance(facets, dict) or not facets:
        return
    changed = {k: v for k, v in facets.items() if node.facets.get(k) != v}
    if not changed:
        return
    merged = {**node.facets, **changed}
    for name, value in changed.items():
        if isinstance(value, dict) and value.get("_deleted") is True:
            merged.pop(name, None)
    node.facets = merged
    update: dict[str, Any] = {"facets": merged}
    doc = changed.get("documentation")
    if isinstance(doc, dict) and isinstance(doc.get("description"), str) and not node.description:
        node.description = doc["description"]
        update["description"] = node.description
    if node.kind == NodeKind.MODEL and "ownership" in changed:
        node.owners = permissions.owner_usernames(changed["ownership"])
        update["owners"] = node.owners
    Node.objects.filter(pk=node.pk).update(**update)
    if node.kind != NodeKind.DATASET or node.dataset_id is None:
        return
    dataset = None
    cols = _schema_columns(changed.get("schema"))
    if cols is not None:
        dataset = catalog_selectors.resolve_dataset_ref(node.dataset_id)
        if permissions.may_rewrite_dataset(dataset, actor):
            catalog_columns.set_columns_from_schema(dataset=dataset, columns=cols)
    data: dict[str, Any] = {}
    if "ownership" in changed or isinstance(doc, dict):
        dataset = dataset or catalog_selectors.resolve_dataset_ref(node.dataset_id)
        if "ownership" in changed and dataset.owner_id is None:
            names = permissions.owner_usernames(changed["ownership"])
            mine = getattr(node, "registered_by", None) == getattr(actor, "username", None)
            names = [n for n in names if permissions.may_name_owner(dataset, actor, n, registered_now=mine)]
            User = get_user_model()
            known = set(User.objects.filter(username__in=names).values_list("username", flat=True))
            first = next((n for n in names if n in known), None)
            if first:
                data["owner"] = first
            # Unknown owners stay in the facet, shown beside the catalog's (empty) owner.
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("description"), str)
            and not dataset.description
            and permissions.may_rewrite_dataset(dataset, actor)  # not a curated dataset's
        ):
            data["description"] = doc["description"]
    if data:
        # Checked above, per facet; the poster is who the audit names.
        catalog_services.update_dataset(actor=actor, dataset=dataset, check=False, via="lineage", **data)


def match_version(node: Node, facets: dict) -> tuple[str, int | None]:
    """(label from the version facet, catalog version number it matches or None)."""
    facet = facets.get("version") if isinstance(facets, dict) else None
    label = facet.get("datasetVersion") if isinstance(facet, dict) else None
    if label is None or label == "":
        return "", None
    label = str(label)[:255]
    if node.kind != NodeKind.DATASET or node.dataset_id is None:
        return label, None
    memo = matched_versions()
    if memo is not None and (node.dataset_id, label) in memo:
        return label, memo[(node.dataset_id, label)]
    dataset = catalog_selectors.resolve_dataset_ref(node.dataset_id)
    version = None
    if label.isascii() and label.isdigit() and len(label) < 10:
        version = catalog_selectors.version_of(dataset, int(label))
    elif _SHA256.match(label) or label.startswith("sha256:"):
        version = catalog_selectors.version_by_checksum(dataset, label.removeprefix("sha256:"))
    number = version.number if version is not None else None
    if memo is not None:
        memo[(node.dataset_id, label)] = number
    return label, number


def apply_job_facets(job: Node, facets: dict) -> None:
    """Keep the latest facets on the job node; its documentation facet is its description."""
    if not isinstance(facets, dict) or not facets:
        return
    changed = {k: v for k, v in facets.items() if job.facets.get(k) != v}
    if not changed:
        return
    job.facets = {**job.facets, **changed}
    update: dict[str, Any] = {"facets": job.facets}
    doc = changed.get("documentation")
    if isinstance(doc, dict) and isinstance(doc.get("description"), str):
        job.description = doc["description"]
        update["description"] = job.description
    Node.objects.filter(pk=job.pk).update(**update)
