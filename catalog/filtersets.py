"""Filters for the dataset list: q (search), namespace, name, owner, pending_owner, steward, tag, domain,
sensitivity."""

import django_filters

from catalog.models import Dataset, Sensitivity
from catalog.search import search


class DatasetFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Full-text search, best match first")
    namespace = django_filters.CharFilter()
    name = django_filters.CharFilter()
    owner = django_filters.CharFilter(field_name="owner__username")
    pending_owner = django_filters.CharFilter(
        field_name="pending_owner__username", label="Offered to this user, not accepted yet"
    )
    steward = django_filters.CharFilter(field_name="stewards__username", distinct=True)
    tag = django_filters.CharFilter(field_name="tags__name", distinct=True)
    domain = django_filters.CharFilter()
    sensitivity = django_filters.ChoiceFilter(choices=Sensitivity.choices)
    origin = django_filters.CharFilter()

    class Meta:
        model = Dataset
        fields = [
            "q", "namespace", "name", "owner", "pending_owner", "steward", "tag", "domain", "sensitivity", "origin",
        ]  # fmt: skip

    def filter_q(self, queryset, name, value):
        return search(queryset, value)
