"""Reads of the catalog scoped by permission and prefetched for pages and endpoints.

Other apps read the catalog through these functions, never through its models' internals.
"""

from collections.abc import Iterable
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery

from catalog.models import Column, Dataset, DatasetVersion
from catalog.urns import candidate_splits, dataset_lookup_q
from catalog.visibility import datasets_hidden_from, may_see_dataset  # noqa: F401 -- other apps read them here
from config.ids import parse_id


def dataset_list(*, user) -> QuerySet[Dataset]:
    """Datasets the user may see, with owner, stewards, tags and ``latest_version_number``."""
    # A correlated subquery, not Max() over a join: it runs only for the rows of the page shown,
    # where an aggregate would GROUP BY every matching row before LIMIT (and slow counts).
    latest = (
        DatasetVersion.objects.filter(dataset=OuterRef("pk"), deleted_at=None)
        .order_by("-number")
        .values("number")[:1]
    )
    return (
        Dataset.objects.visible_to(user)
        # The search columns are large and only the database reads them; lists need not carry them.
        .defer("search_text", "search_vector")
        .select_related("owner", "pending_owner", "owner_group")
        .prefetch_related("stewards", "steward_groups", "tags")
        .annotate(latest_version_number=Subquery(latest))
    )


FACETS = ("owner", "tag", "domain", "sensitivity")
_FACET_FIELDS = {
    "owner": "owner__username",
    "tag": "tags__name",
    "domain": "domain",
    "sensitivity": "sensitivity",
}


# At most this many values per facet in the API's answer.
FACET_LIMIT = 50


def dataset_facets(queryset: QuerySet[Dataset], *, limit: int = FACET_LIMIT) -> dict[str, list[dict]]:
    """Counts per owner, tag, domain and sensitivity over the datasets of ``queryset`` (filtered and
    searched as the list is): ``{"owner": [{"value", "count"}], ...}``, largest first, at most
    ``limit`` values each. Datasets with no owner or domain are not counted under those facets.
    """
    # The matching ids as a subquery: search ranks, ordering and prefetches play no part in counts.
    base = Dataset.objects.filter(pk__in=queryset.order_by().values("pk"))
    out: dict[str, list[dict]] = {}
    for facet in FACETS:
        field = _FACET_FIELDS[facet]
        rows = (
            base.exclude(**{f"{field}__isnull": True})
            .exclude(**{field: ""})
            .values(value=F(field))
            .annotate(count=Count("pk", distinct=True))
            .order_by("-count", "value")[:limit]
        )
        out[facet] = [{"value": r["value"], "count": r["count"]} for r in rows]
    return out


def dataset_detail(*, user, pk: int) -> Dataset:
    return (
        dataset_list(user=user)
        .prefetch_related(Prefetch("columns", queryset=Column.objects.order_by("position", "name")))
        .get(pk=pk)
    )


def dataset_by_urn(urn: str) -> Dataset | None:
    """The dataset a URN names, trying every way its colons could split; None when unknown."""
    matches = {(d.namespace, d.name): d for d in Dataset.objects.filter(dataset_lookup_q(urn))}
    for key in candidate_splits(urn):
        if key in matches:
            return matches[key]
    return None


def datasets_by_urns(urns: Iterable[str]) -> dict[str, Dataset]:
    """{urn: dataset} for the URNs that name a known dataset, in one query (malformed URNs raise
    ValidationError)."""
    urns = list(urns)
    for urn in urns:
        candidate_splits(urn)  # raises on a malformed URN, as before
    splits = _candidates(urns)
    pairs = list(dict.fromkeys(k for cands in splits.values() for k in cands))
    if not pairs:
        return {}
    sql, params = _pairs_query(pairs, "d.*")
    by_key = {(d.namespace, d.name): d for d in Dataset.objects.raw(sql, params)}
    return _match(splits, by_key)


def resolve_dataset_ref(ref: str | int) -> Dataset:
    """A dataset from an id or a URN, as every endpoint that takes a dataset reference accepts."""
    pk = parse_id(ref)
    if pk is not None:
        found = Dataset.objects.filter(pk=pk).first()
    else:
        found = dataset_by_urn(ref)
    if found is None:
        raise ValidationError(f"Unknown dataset: {ref}.")
    return found


def version_of(dataset: Dataset, number: int | None) -> DatasetVersion | None:
    """The given version of a dataset, or its latest not deleted when number is None."""
    qs = dataset.versions.all()
    if number is None:
        return qs.filter(deleted_at=None).order_by("-number").first()
    return qs.filter(number=number).first()


def versions_of(wanted: Iterable[tuple[Dataset, int | None]]) -> dict[tuple[int, int | None], DatasetVersion]:
    """Batch form of version_of: {(dataset id, number or None): version} for those found. The numbered
    ones in one query; a latest one (number None) through version_of itself."""
    wanted = list(wanted)
    found: dict[tuple[int, int | None], DatasetVersion] = {}
    numbered = {(d.pk, n): d for d, n in wanted if n is not None}
    if numbered:
        cond = Q()
        for pk, number in numbered:
            cond |= Q(dataset_id=pk, number=number)
        for v in DatasetVersion.objects.filter(cond):
            v.dataset = numbered[(v.dataset_id, v.number)]
            found[(v.dataset_id, v.number)] = v
    for dataset in {d.pk: d for d, n in wanted if n is None}.values():
        latest = version_of(dataset, None)
        if latest is not None:
            found[(dataset.pk, None)] = latest
    return found


def version_by_checksum(dataset: Dataset, checksum: str) -> DatasetVersion | None:
    """The newest version of a dataset whose bytes have this sha256 (lineage matches events by it)."""
    return dataset.versions.filter(checksum=checksum.lower()).order_by("-number").first()


def datasets_by_ids(ids: Iterable[int], *, sensitivities: Iterable[str] | None = None) -> dict[int, Dataset]:
    """{id: dataset} with owner, stewards and their groups loaded, for answers that name whom to tell
    (lineage impact) and for the rules that ask who acts for a dataset; only those of these
    ``sensitivities`` when given (one query when none is)."""
    rows = Dataset.objects.filter(pk__in=set(ids))
    if sensitivities is not None:
        rows = rows.filter(sensitivity__in=list(sensitivities))
    return {
        d.pk: d
        for d in rows.select_related("owner", "owner_group").prefetch_related("stewards", "steward_groups")
    }


def answerable_people(datasets: Iterable[Dataset]) -> dict[int, tuple[set[int], set[int]]]:
    """{dataset id: (owner ids, steward ids)}: who acts as owner and as steward of each dataset, in
    person or as a member of its owner group or a steward group (catalog.permissions' rule, for many
    people at once). Three queries for any number of datasets."""
    datasets = list(datasets)
    ids = [d.pk for d in datasets]
    team_ids: dict[int, set[int]] = {pk: set() for pk in ids}
    for ds_id, group_id in Dataset.steward_groups.through.objects.filter(dataset_id__in=ids).values_list(
        "dataset_id", "group_id"
    ):
        team_ids[ds_id].add(group_id)
    wanted = {g for gs in team_ids.values() for g in gs} | {d.owner_group_id for d in datasets} - {None}
    members: dict[int, set[int]] = {g: set() for g in wanted}
    user_groups = get_user_model().groups.through
    for user_id, group_id in user_groups.objects.filter(group_id__in=wanted).values_list(
        "user_id", "group_id"
    ):
        members[group_id].add(user_id)
    stewards: dict[int, set[int]] = {pk: set() for pk in ids}
    for ds_id, user_id in Dataset.stewards.through.objects.filter(dataset_id__in=ids).values_list(
        "dataset_id", "user_id"
    ):
        stewards[ds_id].add(user_id)
    out = {}
    for d in datasets:
        owners = {d.owner_id} - {None} | members.get(d.owner_group_id, set())
        out[d.pk] = (owners, stewards[d.pk].union(*(members[g] for g in team_ids[d.pk])))
    return out


def may_change_dataset(user, dataset: Dataset) -> bool:
    """Whether ``user`` is the dataset's owner, a steward or staff (other apps writing on a user's
    behalf ask this, e.g. lineage before applying a schema facet)."""
    from catalog.permissions import can_change_dataset

    return can_change_dataset(user, dataset)


def dataset_has_versions(dataset: Dataset) -> bool:
    return dataset.versions.exists()


class DatasetRef(NamedTuple):
    """What bulk readers (governance's clearance) need of a dataset, without a model instance."""

    pk: int
    namespace: str
    name: str
    owner_id: int | None
    sensitivity: str

    @property
    def urn(self) -> str:
        return f"dataset:{self.namespace}:{self.name}"


def _pairs_query(pairs: list[tuple[str, str]], columns: str) -> tuple[str, list]:
    """SQL selecting ``columns`` (of alias d) of the datasets with these exact (namespace, name) pairs.

    One statement that probes the unique (namespace, name) index once per pair: on PostgreSQL an
    "namespace IN (..) AND name IN (..)" (or a hash join) is read as a scan of every dataset, so
    a LATERAL subquery per pair (LIMIT 1 keeps it from being flattened); on SQLite a VALUES list
    joined on the index (a long OR chain would hit SQLite's expression depth limit).
    """
    table = Dataset._meta.db_table  # the model's own table name; every value is a parameter
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT {columns} FROM unnest(%s::text[], %s::text[]) AS k(ns, nm) CROSS JOIN LATERAL ("  # noqa: S608
            f"SELECT * FROM {table} WHERE namespace = k.ns AND name = k.nm LIMIT 1) d"
        )
        return sql, [[ns for ns, _ in pairs], [nm for _, nm in pairs]]
    values = ", ".join(["(%s, %s)"] * len(pairs))
    sql = (
        f"WITH k(ns, nm) AS (VALUES {values}) "  # noqa: S608
        f"SELECT {columns} FROM k JOIN {table} d ON d.namespace = k.ns AND d.name = k.nm"
    )
    return sql, [v for pair in pairs for v in pair]


def _candidates(urns: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """{urn: its candidate (namespace, name) splits}; malformed URNs are left out."""
    out = {}
    for urn in urns:
        try:
            out[urn] = candidate_splits(urn)
        except ValidationError:
            continue
    return out


def _match(splits: dict[str, list[tuple[str, str]]], by_key: dict) -> dict:
    # Catalog refuses a second dataset with an existing URN, so at most one candidate matches;
    # the conventional reading still goes first for data written before that rule.
    found = {}
    for urn, cands in splits.items():
        for key in cands:
            if key in by_key:
                found[urn] = by_key[key]
                break
    return found


def retired_sensitivities(urns: Iterable[str]) -> dict[str, str]:
    """{urn: the sensitivity it had when deleted} for URNs of datasets deleted from the catalog."""
    from catalog.models import RetiredDataset

    splits = _candidates(urns)
    pairs = {k for cands in splits.values() for k in cands}
    if not pairs:
        return {}
    cond = Q()
    for ns, name in pairs:
        cond |= Q(namespace=ns, name=name)
    by_key = {(r.namespace, r.name): r.sensitivity for r in RetiredDataset.objects.filter(cond)}
    return _match(splits, by_key)


def dataset_refs_by_urns(urns: Iterable[str]) -> dict[str, DatasetRef]:
    """{urn: DatasetRef} for the URNs that name a known dataset, in one query.

    Malformed and unknown URNs are simply absent (callers that must name them compare with
    their input). Every way a URN's colons could split is tried in the same statement.
    """
    splits = _candidates(urns)
    pairs = list(dict.fromkeys(k for cands in splits.values() for k in cands))
    if not pairs:
        return {}
    sql, params = _pairs_query(pairs, "d.id, d.namespace, d.name, d.owner_id, d.sensitivity")
    with connection.cursor() as cur:
        cur.execute(sql, params)
        by_key = {(r[1], r[2]): DatasetRef(*r) for r in cur.fetchall()}
    return _match(splits, by_key)


def versions_at_uri(uri: str) -> list[DatasetVersion]:
    """The live versions registered from this very location (a path or a source's reference), newest
    first, with their datasets (outside systems that name data by where it lives find it here)."""
    return list(
        DatasetVersion.objects.filter(source_uri=uri, deleted_at__isnull=True)
        .select_related("dataset")
        .order_by("-created_at", "-number")[:20]
    )


def versions_with_checksum(prefix: str) -> list[DatasetVersion]:
    """The live versions whose bytes' sha256 begins with ``prefix`` (the whole of it, or the start
    that a system with shorter digests keeps), with their datasets, newest first."""
    return list(
        DatasetVersion.objects.filter(checksum__startswith=prefix.lower(), deleted_at__isnull=True)
        .select_related("dataset")
        .order_by("-created_at", "-number")[:20]
    )


def version_current_at(dataset: Dataset, when) -> DatasetVersion | None:
    """The live version of a dataset that was the latest at ``when`` (else its first one, when all came
    later): what a run that started then most likely read."""
    live = dataset.versions.filter(deleted_at__isnull=True)
    return (
        live.filter(created_at__lte=when).order_by("-created_at", "-number").first()
        or live.order_by("created_at", "number").first()
    )
