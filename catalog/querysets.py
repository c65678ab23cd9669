"""Reusable, side-effect-free query pieces for catalog models."""

from django.db import models


class DatasetQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DatasetQuerySet":
        """The datasets ``user`` may know exist: every one signed-in users may read, except hidden
        ones (``Dataset.hidden``) that only staff, their owners, stewards, the members of their
        groups and approved requesters see (catalog.visibility). Access to the data itself is
        governed by approvals (governance)."""
        from catalog.visibility import hidden_ids_visible_to

        if user is None or not user.is_authenticated:
            return self.none()
        seen = hidden_ids_visible_to(user)
        if seen is None:
            return self
        # A plain condition on the indexed flag (and a short id list): counts stay index-only.
        if not seen:
            return self.filter(hidden=False)
        return self.filter(models.Q(hidden=False) | models.Q(pk__in=seen))

    def editable_by(self, user) -> "DatasetQuerySet":
        if user.is_staff:
            return self
        return self.filter(models.Q(owner=user) | models.Q(stewards=user)).distinct()

    def with_urn(self, urn: str) -> "DatasetQuerySet":
        from catalog.urns import dataset_lookup_q

        return self.filter(dataset_lookup_q(urn))
