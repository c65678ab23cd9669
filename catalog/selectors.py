"""Reads of the catalog scoped by permission and prefetched for pages and endpoints.

Other apps read the catalog through these functions, never through its models' internals.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Count, F, OuterRef, Prefetch, QuerySet, Subquery

from catalog.models import Column, Dataset, DatasetVersion
from catalog.urns import candidate_splits, dataset_lookup_q


def dataset_list(*, user) -> QuerySet[Dataset]:
    """Datasets the user may see, with owner, stewards, tags and ``latest_version_number``."""
    # A correlated subquery, not Max() over a join: it runs only for the rows of the page shown,
    # where an aggregate would GROUP BY every matching row before LIMIT (and slow counts).
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number").values("number")[:1]
    return (
        Dataset.objects.visible_to(user)
        # The search columns are large and only the database reads them; lists need not carry them.
        .defer("search_text", "search_vector")
        .select_related("owner")
        .prefetch_related("stewards", "tags")
        .annotate(latest_version_number=Subquery(latest))
    )


FACETS = ("owner", "tag", "domain", "sensitivity")
_FACET_FIELDS = {
    "owner": "owner__username",
    "tag": "tags__name",
    "domain": "domain",
    "sensitivity": "sensitivity",
}


def dataset_facets(queryset: QuerySet[Dataset], *, limit: int = 50) -> dict[str, list[dict]]:
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
    """{urn: dataset} for the URNs that name a known dataset (malformed URNs raise ValidationError)."""
    return {urn: d for urn in urns if (d := dataset_by_urn(urn)) is not None}


def resolve_dataset_ref(ref: str | int) -> Dataset:
    """A dataset from an id or a URN, as every endpoint that takes a dataset reference accepts."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        found = Dataset.objects.filter(pk=int(ref)).first()
    else:
        found = dataset_by_urn(ref)
    if found is None:
        raise ValidationError(f"Unknown dataset: {ref}.")
    return found


def version_of(dataset: Dataset, number: int | None) -> DatasetVersion | None:
    """The given version of a dataset, or its latest when number is None."""
    qs = dataset.versions.all()
    if number is None:
        return qs.order_by("-number").first()
    return qs.filter(number=number).first()


def version_by_checksum(dataset: Dataset, checksum: str) -> DatasetVersion | None:
    """The newest version of a dataset whose bytes have this sha256 (lineage matches events by it)."""
    return dataset.versions.filter(checksum=checksum.lower()).order_by("-number").first()


def datasets_by_ids(ids: Iterable[int]) -> dict[int, Dataset]:
    """{id: dataset} with owner and stewards loaded, for answers that name whom to tell (lineage impact)."""
    return {
        d.pk: d
        for d in Dataset.objects.filter(pk__in=set(ids)).select_related("owner").prefetch_related("stewards")
    }


def may_change_dataset(user, dataset: Dataset) -> bool:
    """Whether ``user`` is the dataset's owner, a steward or staff (other apps writing on a user's
    behalf ask this, e.g. lineage before applying a schema facet)."""
    from catalog.permissions import can_change_dataset

    return can_change_dataset(user, dataset)


def dataset_has_versions(dataset: Dataset) -> bool:
    return dataset.versions.exists()
