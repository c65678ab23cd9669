"""Reusable, side-effect-free query pieces for catalog models."""

from django.db import models


def managed_q(user, prefix: str = "") -> models.Q:
    """Rows whose dataset ``user`` owns or stewards, in person or through one of their groups
    (catalog.permissions' rule, as a condition); ``prefix`` reaches datasets through a relation
    ("datasets__"). It joins many-valued relations: filter ``pk__in`` a subquery of it, so that
    rows stay distinct."""
    groups = user.groups.values("pk")
    return (
        models.Q(**{f"{prefix}owner": user})
        | models.Q(**{f"{prefix}owner_group__in": groups})
        | models.Q(**{f"{prefix}stewards": user})
        | models.Q(**{f"{prefix}steward_groups__in": groups})
    )


class DatasetQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DatasetQuerySet":
        # Catalog metadata is readable by every authenticated user; access to data is governed
        # by approvals (governance), not by hiding that a dataset exists.
        if user is None or not user.is_authenticated:
            return self.none()
        return self

    def managed_by(self, user) -> "DatasetQuerySet":
        """Datasets ``user`` owns or stewards, in person or through one of their groups (staff get
        no more here: it is the datasets they answer for). One query, no duplicates."""
        if user is None or not user.is_authenticated:
            return self.none()
        ids = self.model.objects.filter(managed_q(user)).values("pk")
        return self.filter(pk__in=ids)

    def owned_by(self, user) -> "DatasetQuerySet":
        """Datasets ``user`` owns, in person or through their owner group."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(models.Q(owner=user) | models.Q(owner_group__in=user.groups.values("pk")))

    def editable_by(self, user) -> "DatasetQuerySet":
        if user.is_staff:
            return self
        return self.managed_by(user)

    def with_urn(self, urn: str) -> "DatasetQuerySet":
        from catalog.urns import dataset_lookup_q

        return self.filter(dataset_lookup_q(urn))
