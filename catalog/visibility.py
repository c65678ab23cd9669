"""Who may know that a hidden dataset exists (``Dataset.hidden``; docs/governance.md, "Hidden datasets").

A hidden dataset is left out of every list, search, count, facet, lineage node name and answer for
everyone but: staff, its owner and stewards, members of its owner group and steward groups, and
whoever an app built on the catalog vouches for. Governance registers one such source here (the
requesters of a live approved access request naming it) without the catalog importing governance,
as profiling.visibility does for sample values.

``Dataset.objects.visible_to(user)`` (catalog.querysets) is the one condition every reader uses; the
narrow search table (PostgreSQL) takes the same answer as a list of ids (``hidden_ids_visible_to``).
"""

from collections.abc import Callable

from django.db.models import Q, QuerySet

# ``source(user) -> QuerySet`` of dataset ids (one column, e.g. ``.values("dataset_id")``) that the
# user may see even when hidden.
HiddenViewerSource = Callable[[object], QuerySet]
_sources: list[HiddenViewerSource] = []


def register_hidden_viewer(source: HiddenViewerSource) -> None:
    """Add a source of datasets a user may see although hidden (see the module docstring)."""
    if source not in _sources:
        _sources.append(source)


def _signed_in(user) -> bool:
    return bool(user is not None and user.is_authenticated)


def sees_every_dataset(user) -> bool:
    """Staff see hidden datasets too: they manage the catalog."""
    return _signed_in(user) and bool(user.is_staff)


def _keepers_q(user) -> Q:
    # The group-aware rule of who keeps a dataset, written once here for visibility; the teams work
    # (catalog.permissions) has its own, to be unified at merge.
    groups = user.groups.values("pk")
    return Q(owner=user) | Q(stewards=user) | Q(owner_group__in=groups) | Q(steward_groups__in=groups)


def hidden_ids_visible_to(user) -> list[int] | None:
    """The ids of the hidden datasets ``user`` may see; None when they see every one (staff).

    Hidden datasets are few, so this is a short list read through the ``hidden`` index, which the
    narrow search table and the catalog's lists then take as a plain condition.
    """
    from catalog.models import Dataset

    if sees_every_dataset(user):
        return None
    if not _signed_in(user):
        return []
    cond = _keepers_q(user)
    for source in _sources:
        cond |= Q(pk__in=source(user))
    return sorted(set(Dataset.objects.filter(hidden=True).filter(cond).values_list("pk", flat=True)))


def may_see_dataset(user, dataset) -> bool:
    """Whether ``user`` may know that ``dataset`` exists (one row; lists use ``visible_to``)."""
    if not _signed_in(user):
        return False
    if not dataset.hidden or sees_every_dataset(user):
        return True
    return dataset.pk in (hidden_ids_visible_to(user) or [])


def visible_datasets_q(user, prefix: str = "datasets__") -> Q:
    """A condition on a relation to datasets (``prefix``) true for those ``user`` may see: for
    counts of datasets per source, per tag, per owner..."""
    seen = hidden_ids_visible_to(user)
    if seen is None:
        return Q()
    return Q(**{f"{prefix}hidden": False}) | Q(**{f"{prefix}pk__in": seen})


def datasets_hidden_from(user) -> list[tuple[int, str, str]]:
    """(id, namespace, name) of every hidden dataset ``user`` may not see: few rows, read through
    the ``hidden`` index, for answers that name datasets without asking the catalog per row
    (lineage graphs blank these nodes)."""
    from catalog.models import Dataset

    seen = hidden_ids_visible_to(user)
    if seen is None:
        return []
    return list(
        Dataset.objects.filter(hidden=True).exclude(pk__in=seen).values_list("pk", "namespace", "name")
    )
