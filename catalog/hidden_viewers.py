"""Who, beyond the catalog's own rule, may know that a hidden dataset exists: the sources that apps
built on the catalog register (governance: the requesters of a live approved access request), kept
apart from catalog.visibility so that the catalog's querysets can read them without importing models.
"""

from collections.abc import Callable

from django.db.models import QuerySet

# ``source(user) -> QuerySet`` of dataset ids (one column, e.g. ``.values("dataset_id")``) that the
# user may see even when hidden.
HiddenViewerSource = Callable[[object], QuerySet]
_sources: list[HiddenViewerSource] = []


def register_hidden_viewer(source: HiddenViewerSource) -> None:
    """Add a source of datasets a user may see although hidden (catalog.visibility)."""
    if source not in _sources:
        _sources.append(source)


def hidden_viewer_sources() -> list[HiddenViewerSource]:
    return list(_sources)
