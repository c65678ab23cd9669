"""Dataset URNs: namespaces with schemes and ports, names with '/', '.' and ':' still resolve."""

import pytest
from django.core.exceptions import ValidationError

from catalog import selectors, services
from catalog.urns import candidate_splits, dataset_urn, split_new_urn, split_version


def test_conventional_split():
    assert split_new_urn("dataset:postgres://db.internal:5432:public.orders") == (
        "postgres://db.internal:5432",
        "public.orders",
    )
    assert split_new_urn("dataset:s3://lake:raw/events/2024.json") == ("s3://lake", "raw/events/2024.json")
    assert split_new_urn("dataset:warehouse:sales.orders") == ("warehouse", "sales.orders")


def test_every_split_is_a_candidate():
    splits = candidate_splits("dataset:a:b:c")
    assert splits[0] == ("a", "b:c") and ("a:b", "c") in splits


@pytest.mark.parametrize("bad", ["orders", "dataset:", "dataset:nocolon", "job:ns:name", "dataset::x"])
def test_malformed(bad):
    with pytest.raises(ValidationError):
        candidate_splits(bad)


def test_split_version():
    assert split_version("dataset:s3://lake:orders@3") == ("dataset:s3://lake:orders", 3)
    assert split_version("dataset:s3://lake:orders") == ("dataset:s3://lake:orders", None)


@pytest.mark.django_db
def test_lookup_resolves_unconventional_splits(owner):
    odd = services.create_dataset(actor=owner, namespace="ns:with:colons", name="name:too")
    plain = services.create_dataset(actor=owner, namespace="postgres://db:5432", name="public.t")
    assert selectors.dataset_by_urn(dataset_urn("ns:with:colons", "name:too")) == odd
    assert selectors.dataset_by_urn(plain.urn) == plain
    assert selectors.dataset_by_urn("dataset:nowhere:none") is None
    assert selectors.resolve_dataset_ref(str(plain.pk)) == plain
    assert selectors.resolve_dataset_ref(plain.urn) == plain
    with pytest.raises(ValidationError):
        selectors.resolve_dataset_ref("dataset:nowhere:none")
