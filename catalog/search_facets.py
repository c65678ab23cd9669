"""The facets the search page can be narrowed by: the catalog's own, and those that apps built on the
catalog register (e.g. profiling's quality status). The catalog imports none of those apps: they
register here, as they subscribe to catalog.signals.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

# The catalog's own facets: (query parameter, field it filters, heading).
FACETS = [
    ("owner", "owner__username", "Owner"),
    ("tag", "tags__name", "Tag"),
    ("domain", "domain", "Domain"),
    ("sensitivity", "sensitivity", "Sensitivity"),
]


@dataclass(frozen=True)
class SearchFacet:
    """A facet that an app built on the catalog adds to the search page."""

    param: str
    label: str
    # (matches, user) -> [{"value", "count"}], largest first; what the user may know of each match.
    counts: Callable[[QuerySet, Any], list[dict]]
    apply: Callable[[QuerySet, str, Any], QuerySet]  # (matches, chosen value, user) -> narrowed matches


EXTRA_FACETS: dict[str, SearchFacet] = {}


def register_search_facet(facet: SearchFacet) -> None:
    EXTRA_FACETS[facet.param] = facet
