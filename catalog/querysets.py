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
        """The datasets ``user`` may know exist: every one signed-in users may read, except hidden
        ones (``Dataset.hidden``) that only staff, their owners, stewards, the members of their
        groups and approved requesters see (catalog.visibility). Access to the data itself is
        governed by approvals (governance)."""
        if user is None or not user.is_authenticated:
            return self.none()
        seen = self.hidden_ids_visible_to(user)
        if seen is None:
            return self
        # A plain condition on the indexed flag (and a short id list): counts stay index-only.
        if not seen:
            return self.filter(hidden=False)
        return self.filter(models.Q(hidden=False) | models.Q(pk__in=seen))

    def hidden_ids_visible_to(self, user) -> list[int] | None:
        """The ids of the hidden datasets ``user`` may see; None when they see every one (staff).

        Staff, the owner, a steward, a member of the owner group or of a steward group, and whoever
        a registered source vouches for (catalog.hidden_viewers: governance's approved requesters).
        Hidden datasets are few, so this is a short list read through the ``hidden`` index, which
        lists and the narrow search table then take as a plain condition.
        """
        if user is None or not user.is_authenticated:
            return []
        if user.is_staff:
            return None
        return sorted(set(self._seen_hidden(user).values_list("pk", flat=True)))

    def _seen_hidden(self, user) -> "DatasetQuerySet":
        from catalog.hidden_viewers import hidden_viewer_sources

        # Its keepers (in person or through a group: managed_q) and whoever another app vouches for.
        cond = managed_q(user)
        for source in hidden_viewer_sources():
            cond |= models.Q(pk__in=source(user))
        return self.model.objects.filter(hidden=True).filter(cond)

    def hidden_from(self, user) -> "DatasetQuerySet":
        """The hidden datasets ``user`` may not see, in one statement (the ids they may see as a
        subquery of the same rule as ``hidden_ids_visible_to``)."""
        if user is not None and user.is_authenticated and user.is_staff:
            return self.none()
        hidden = self.model.objects.filter(hidden=True)
        if user is None or not user.is_authenticated:
            return hidden
        return hidden.exclude(pk__in=self._seen_hidden(user))

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
