"""Filters for the dataset list: q (search), namespace, name, owner, pending_owner, steward, owner_group,
steward_group, tag, domain, sensitivity."""

import django_filters

from catalog.models import Dataset, Sensitivity
from catalog.search import search
from catalog.search_text import check_query


class DatasetFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Full-text search, best match first")
    namespace = django_filters.CharFilter()
    name = django_filters.CharFilter()
    owner = django_filters.CharFilter(field_name="owner__username")
    pending_owner = django_filters.CharFilter(
        field_name="pending_owner__username", label="Offered to this user, not accepted yet"
    )
    steward = django_filters.CharFilter(field_name="stewards__username", distinct=True)
    owner_group = django_filters.CharFilter(field_name="owner_group__name", label="Owned by this group")
    steward_group = django_filters.CharFilter(
        field_name="steward_groups__name", distinct=True, label="Stewarded by this group"
    )
    tag = django_filters.CharFilter(field_name="tags__name", distinct=True)
    domain = django_filters.CharFilter()
    sensitivity = django_filters.ChoiceFilter(choices=Sensitivity.choices)
    origin = django_filters.CharFilter()

    class Meta:
        model = Dataset
        fields = [
            "q", "namespace", "name", "owner", "pending_owner", "steward", "owner_group", "steward_group", "tag",
            "domain", "sensitivity", "origin",
        ]  # fmt: skip

    def filter_q(self, queryset, name, value):
        check_query(value)
        return search(queryset, value)
