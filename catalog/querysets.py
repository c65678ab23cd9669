"""Reusable, side-effect-free query pieces for catalog models."""

from django.db import models


class DatasetQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DatasetQuerySet":
        # Catalog metadata is readable by every authenticated user; access to data is governed
        # by approvals (governance), not by hiding that a dataset exists.
        if user is None or not user.is_authenticated:
            return self.none()
        return self

    def editable_by(self, user) -> "DatasetQuerySet":
        if user.is_staff:
            return self
        return self.filter(models.Q(owner=user) | models.Q(stewards=user)).distinct()

    def with_urn(self, urn: str) -> "DatasetQuerySet":
        from catalog.urns import dataset_lookup_q

        return self.filter(dataset_lookup_q(urn))
