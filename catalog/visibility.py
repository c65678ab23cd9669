"""Who may know that a hidden dataset exists (``Dataset.hidden``; docs/governance.md, "Hidden datasets").

A hidden dataset is left out of every list, search, count, facet, lineage node name and answer for
everyone but: staff, its owner and stewards, members of its owner group and steward groups, and
whoever an app built on the catalog vouches for. Governance registers one such source here (the
requesters of a live approved access request naming it) without the catalog importing governance,
as profiling.visibility does for sample values.

``Dataset.objects.visible_to(user)`` (catalog.querysets) is the one condition every reader uses; the
narrow search table (PostgreSQL) takes the same answer as a list of ids (``hidden_ids_visible_to``).
"""

from django.db.models import Q

from catalog.hidden_viewers import register_hidden_viewer  # noqa: F401 -- apps register here
from catalog.models import Dataset


def hidden_ids_visible_to(user) -> list[int] | None:
    """The ids of the hidden datasets ``user`` may see; None when they see every one (staff)."""
    return Dataset.objects.hidden_ids_visible_to(user)


def may_see_dataset(user, dataset) -> bool:
    """Whether ``user`` may know that ``dataset`` exists (one row; lists use ``visible_to``)."""
    if user is None or not user.is_authenticated:
        return False
    if not dataset.hidden or user.is_staff:
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
    return list(Dataset.objects.hidden_from(user).values_list("pk", "namespace", "name"))
