"""Governance's bulk URN lookups go through catalog's selectors, one query each (QA boundary fix)."""

import pytest

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from governance import selectors

pytestmark = pytest.mark.django_db


def test_bulk_lookup_is_one_query_even_for_unconventional_splits(
    owner, make_dataset, django_assert_num_queries
):
    plain = make_dataset("confidential")
    # A namespace holding a colon: the conventional reading of its URN misses, another split finds it.
    odd = catalog_services.create_dataset(
        actor=owner, namespace="kafka:cluster1", name="topic:a", sensitivity="public"
    )
    urns = [plain.urn, odd.urn, "dataset:s3://lake:nope", "not-a-urn"]
    with django_assert_num_queries(1):
        refs, malformed = selectors.dataset_refs_for_urns(urns)
    assert {u: r.pk for u, r in refs.items()} == {plain.urn: plain.pk, odd.urn: odd.pk}
    assert malformed == ["not-a-urn"]
    assert refs[odd.urn].sensitivity == "public" and refs[plain.urn].owner_id == owner.pk


def test_catalog_datasets_by_urns_is_one_query(owner, make_dataset, django_assert_num_queries):
    many = [make_dataset("internal") for _ in range(5)]
    urns = [d.urn for d in many] + ["dataset:s3://lake:unknown"]
    with django_assert_num_queries(1):
        found = catalog_selectors.datasets_by_urns(urns)
    assert {u: d.pk for u, d in found.items()} == {d.urn: d.pk for d in many}
    assert isinstance(found[many[0].urn], type(many[0]))
