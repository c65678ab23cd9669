"""Reads of governance, scoped by permission and prefetched for endpoints and pages."""

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet

from catalog.models import Dataset
from catalog.urns import candidate_splits
from governance.models import (
    AccessRequest,
    AuditRecord,
    DatasetPolicy,
    ModelVersion,
)

# One clearance question or one request names at most this many datasets (a bigger one is a 400).
MAX_DATASETS_PER_QUERY = 200


def datasets_for_urns(urns: list[str]) -> tuple[dict[str, Dataset], list[str]]:
    """({urn: dataset} for the known URNs, [malformed URNs]) in one query.

    catalog.selectors.datasets_by_urns asks once per URN; clearance resolves a few hundred URNs
    per question, so here every split of every URN goes into one query on the (namespace, name)
    index and the matching is done in Python.
    """
    splits: dict[str, list[tuple[str, str]]] = {}
    malformed = []
    for urn in urns:
        try:
            splits[urn] = candidate_splits(urn)
        except ValidationError:
            malformed.append(urn)
    if not splits:
        return {}, malformed
    # The conventional reading first (one pair per URN, how catalog and lineage build URNs); the
    # other ways to split are only tried for the URNs it did not find.
    by_key = {(d.namespace, d.name): d for d in _datasets_by_keys([c[0] for c in splits.values()])}
    rest = list(dict.fromkeys(k for c in splits.values() if c[0] not in by_key for k in c[1:]))
    if rest:
        by_key.update({(d.namespace, d.name): d for d in _datasets_by_keys(rest)})
    found = {}
    for urn, cands in splits.items():
        for key in cands:
            if key in by_key:
                found[urn] = by_key[key]
                break
    return found, malformed


def _datasets_by_keys(pairs: list[tuple[str, str]]):
    """Datasets by exact (namespace, name) pairs: on PostgreSQL one index nested loop over unnest()."""
    if connection.vendor == "postgresql":
        # The planner reads "namespace IN (..) AND name IN (..)" (or a hash join) as a scan of every
        # dataset; a LATERAL subquery per pair (LIMIT 1 keeps it from being flattened into a
        # hash join) makes it probe the unique index once per pair.
        # The table name is the model's own; every value is a parameter.
        inner = "SELECT id, namespace, name, owner_id, sensitivity FROM " + Dataset._meta.db_table  # noqa: S608
        sql = (
            "SELECT d.id, d.namespace, d.name, d.owner_id, d.sensitivity "
            "FROM unnest(%s::text[], %s::text[]) AS k(ns, nm) CROSS JOIN LATERAL ("
            + inner
            + " WHERE namespace = k.ns AND name = k.nm LIMIT 1) d"
        )
        return Dataset.objects.raw(sql, [[ns for ns, _ in pairs], [nm for _, nm in pairs]])
    out = []
    # In chunks: SQLite parses a long OR chain as a tree as deep as the chain (limit 1000).
    for i in range(0, len(pairs), 100):
        q = Q(pk__in=[])
        for ns, nm in pairs[i : i + 100]:
            q |= Q(namespace=ns, name=nm)
        out += Dataset.objects.filter(q).order_by().only("id", "namespace", "name", "owner_id", "sensitivity")
    return out


def resolve_urns(urns: list[str], *, field: str) -> dict[str, Dataset]:
    """{urn: dataset} for every URN, or a ValidationError naming the malformed and unknown ones."""
    found, malformed = datasets_for_urns(urns)
    errors = []
    if malformed:
        errors.append(f"Not a dataset URN (expected dataset:<namespace>:<name>): {', '.join(malformed)}.")
    unknown = [u for u in urns if u not in found and u not in malformed]
    if unknown:
        errors.append(f"Unknown dataset: {', '.join(unknown)}.")
    if errors:
        raise ValidationError({field: errors})
    return found


def policy_of(dataset: Dataset) -> DatasetPolicy | None:
    return DatasetPolicy.objects.filter(dataset=dataset).first()


def policies_for(dataset_ids) -> dict[int, DatasetPolicy]:
    return {p.dataset_id: p for p in DatasetPolicy.objects.filter(dataset_id__in=list(dataset_ids))}


def decidable_by(user) -> Q:
    """Requests naming a dataset the user owns or stewards (deciding needs every one: the service checks)."""
    return Q(datasets__owner=user) | Q(datasets__stewards=user)


def access_request_list(*, user) -> QuerySet[AccessRequest]:
    """Requests the user made or may decide (owns or stewards a dataset of); staff see all."""
    qs = AccessRequest.objects.select_related("requester", "decided_by").prefetch_related("datasets")
    if user.is_staff:
        return qs
    ids = AccessRequest.objects.filter(Q(requester=user) | decidable_by(user)).values("pk")
    return qs.filter(pk__in=ids)


def access_request_detail(*, user, pk: int) -> AccessRequest:
    return access_request_list(user=user).prefetch_related("approvals__approver", "events__actor").get(pk=pk)


def audit_list(*, object_ref: str | None = None) -> QuerySet[AuditRecord]:
    """Audit records, newest first; ``object_ref`` is a dataset URN or id, or ``<type>:<id>``."""
    qs = AuditRecord.objects.order_by("-seq")
    if not object_ref:
        return qs
    ref = object_ref.strip()
    if ref.isdigit():
        from catalog.selectors import datasets_by_ids

        ds = datasets_by_ids([int(ref)]).get(int(ref))
        keys = [f"dataset:{ref}"] + ([ds.urn] if ds else [])
    else:
        keys = [ref]
        if ref.startswith("dataset:"):
            found, _ = datasets_for_urns([ref])
            if ref in found:
                keys.append(f"dataset:{found[ref].pk}")
    return qs.filter(pk__in=_subject_records(keys))


def _subject_records(keys: list[str]):
    from governance.models import AuditSubject

    return AuditSubject.objects.filter(key__in=keys).values("record_id")


def model_version_list(*, user) -> QuerySet[ModelVersion]:
    # Models are catalog metadata: every signed-in user reads them, as datasets.
    return ModelVersion.objects.select_related("model", "model__owner", "registered_by").prefetch_related(
        "inputs"
    )
