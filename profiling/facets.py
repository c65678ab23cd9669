"""The search page's "Quality" facet: datasets passing or failing by their latest quality result.

Registered with the catalog's search page at start-up (ProfilingConfig.ready()); the catalog imports
none of this. Both functions only read.

Whether a protected dataset (profiling.visibility.PROTECTED) passes its suite says something of its
values, so the facet counts and finds it only for those who may change it (staff, its owner and
stewards, through their groups too): a person let through by a registered check (an approved
requester) sees the verdict on the dataset's page, not here, where checking each dataset one by one
would cost a query per match.
"""

from django.db.models import Count, OuterRef, Q, Subquery

from catalog.models import Dataset
from catalog.search_facets import SearchFacet, register_search_facet
from profiling.models import QualityResult
from profiling.visibility import PROTECTED

QUALITY_FACET_PROBE = 5000


def _latest_results():
    """Each dataset's quality result of its highest version (one row per dataset)."""
    newest = QualityResult.objects.filter(dataset_id=OuterRef("dataset_id")).order_by("-version_number")
    return QualityResult.objects.filter(pk=Subquery(newest.values("pk")[:1]))


def judged_for(matches, user):
    """The matches whose quality verdict ``user`` may learn from the facet."""
    if user.is_staff:
        return matches
    return matches.filter(
        ~Q(sensitivity__in=PROTECTED) | Q(pk__in=Dataset.objects.managed_by(user).values("pk"))
    )


def quality_counts(matches, user) -> list[dict]:
    """Passing / failing datasets among the matches whose verdict ``user`` may learn, by their latest
    quality result.

    Usually far fewer datasets have a quality result than match a search, so the matches are only
    probed for those ids (the search condition is checked on a few rows, not run over the whole
    catalog again); past QUALITY_FACET_PROBE results the search is joined as a subquery instead.
    """
    matches = judged_for(matches, user)
    latest = list(_latest_results().values_list("dataset_id", "success")[: QUALITY_FACET_PROBE + 1])
    if len(latest) <= QUALITY_FACET_PROBE:
        found = set(matches.order_by().filter(pk__in=[d for d, _ in latest]).values_list("pk", flat=True))
        tally = {"passing": 0, "failing": 0}
        for dataset_id, success in latest:
            if dataset_id in found:
                tally["passing" if success else "failing"] += 1
        out = [{"value": v, "count": n} for v, n in tally.items() if n]
    else:
        rows = (
            _latest_results()
            .filter(dataset_id__in=matches.order_by().values("pk"))
            .values("success")
            .annotate(n=Count("*"))
        )
        out = [{"value": "passing" if r["success"] else "failing", "count": r["n"]} for r in rows]
    return sorted(out, key=lambda v: -v["count"])


def quality_filter(matches, value: str, user):
    """The matches whose latest quality result passes ("passing") or fails ("failing"), among those
    whose verdict ``user`` may learn."""
    if value not in ("passing", "failing"):
        return matches.none()
    ids = _latest_results().filter(success=(value == "passing")).values("dataset_id")
    return judged_for(matches, user).filter(pk__in=ids)


def register_quality_facet() -> None:
    """Add the facet to the catalog's search page (idempotent: the catalog keys facets by param)."""
    register_search_facet(
        SearchFacet(param="quality", label="Quality", counts=quality_counts, apply=quality_filter)
    )
