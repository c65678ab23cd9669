"""Reads of the catalog scoped by permission and prefetched for pages and endpoints.

Other apps read the catalog through these functions, never through its models' internals.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Max, Prefetch, QuerySet

from catalog.models import Column, Dataset, DatasetVersion
from catalog.urns import candidate_splits, dataset_lookup_q


def dataset_list(*, user) -> QuerySet[Dataset]:
    return (
        Dataset.objects.visible_to(user)
        .select_related("owner")
        .prefetch_related("stewards", "tags")
        .annotate(latest_version_number=Max("versions__number"))
    )


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
