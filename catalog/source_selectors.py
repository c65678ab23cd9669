"""Reads for the sources' pages: the list with each source's counts and last scan, one source, its
scans and its datasets, and where a dataset comes from. Every signed-in user may see sources and
their scans (as the API lists them); who may change one is catalog.permissions'. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from catalog.leases import ACTIVE
from catalog.models import Dataset, DatasetVersion, Source, SourceScan


def _count(rows: QuerySet) -> Coalesce:
    """COUNT of ``rows`` (filtered on OuterRef("pk")) as a correlated subquery: no GROUP BY over the
    sources' rows, and only the sources of the page shown pay for it."""
    counted = rows.order_by().values("source").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def source_list(*, user=None) -> QuerySet[Source]:
    """All sources by name, with ``dataset_count``, ``removed_count`` and their last scan's
    ``last_scan_status`` / ``last_scan_created_at`` / ``last_scan_finished_at``. With ``user``,
    the datasets counted are those they may see (hidden ones only for those who may see them)."""
    last = SourceScan.objects.filter(source=OuterRef("pk")).order_by("-id")
    datasets = (Dataset.objects.visible_to(user) if user is not None else Dataset.objects).filter(
        source=OuterRef("pk")
    )
    return (
        Source.objects.select_related("owner")
        .annotate(
            dataset_count=_count(datasets),
            removed_count=_count(datasets.filter(removed_at_source=True)),
            last_scan_status=Subquery(last.values("status")[:1]),
            last_scan_created_at=Subquery(last.values("created_at")[:1]),
            last_scan_finished_at=Subquery(last.values("finished_at")[:1]),
        )
        .order_by("name")
    )


def source_detail(*, pk: int, user=None) -> Source:
    """One source with its owner, stewards and dataset counts (Source.DoesNotExist if none)."""
    return source_list(user=user).prefetch_related("stewards").get(pk=pk)


def source_by_pk(*, pk: int) -> Source:
    """One source's row alone (Source.DoesNotExist if none): what a scan's progress, polled every
    second, needs, without the dataset counts."""
    return Source.objects.get(pk=pk)


def scan_of(*, source: Source, scan_id: int) -> SourceScan:
    """One scan of ``source`` (SourceScan.DoesNotExist when it is not one of its scans)."""
    return SourceScan.objects.select_related("requested_by").get(pk=scan_id, source=source)


def current_scan(*, source: Source) -> SourceScan | None:
    """The scan waiting or running for ``source``, else its latest one (None: never scanned)."""
    scans = SourceScan.objects.select_related("requested_by").filter(source=source)
    return scans.filter(status__in=ACTIVE).order_by("-id").first() or scans.order_by("-id").first()


def scan_history(*, source: Source, limit: int = 20) -> list[SourceScan]:
    """The latest ``limit`` scans of ``source``, newest first."""
    return list(
        SourceScan.objects.select_related("requested_by").filter(source=source).order_by("-id")[:limit]
    )


def scan_count(*, source: Source) -> int:
    return SourceScan.objects.filter(source=source).count()


def without_hidden_errors(scans, *, user, source_id: int):
    """``scans`` (of source ``source_id``) as ``user`` may see them: the errors naming a dataset of the
    source hidden from them are left out, in memory only (never saved). One query for the whole
    page: the names of the source's hidden datasets. The counters (found, registered, changed...)
    stay as the scan counted them: numbers that name nobody (docs/governance.md, "Hidden datasets").
    Returns ``scans``; a single scan or None is accepted too."""
    many = isinstance(scans, list | tuple)
    rows = [s for s in (scans if many else [scans]) if s is not None and s.errors]
    if rows:
        hidden = set(
            Dataset.objects.hidden_from(user).filter(source_id=source_id).values_list("name", flat=True)
        )
        if hidden:
            for scan in rows:
                scan.errors = [e for e in scan.errors if e.get("name") not in hidden]
    return scans


def source_datasets(*, user, source: Source) -> QuerySet[Dataset]:
    """The datasets ``source`` keeps that ``user`` may see: those still at the source first, by name,
    with ``latest_version_number``."""
    latest = (
        DatasetVersion.objects.filter(dataset=OuterRef("pk"), deleted_at=None)
        .order_by("-number")
        .values("number")[:1]
    )
    return (
        Dataset.objects.visible_to(user)
        .filter(source=source)
        .only("id", "namespace", "name", "title", "sensitivity", "removed_at_source", "source_id")
        .annotate(latest_version_number=Subquery(latest))
        .order_by("removed_at_source", "name", "id")
    )


@dataclass(frozen=True)
class Origin:
    """Where a dataset comes from, for its page: the source, the latest version's URI, the last scan."""

    source: Source
    uri: str
    last_scan_at: datetime | None
    last_scan_status: str | None


def dataset_origin(*, dataset: Dataset) -> Origin | None:
    """The source that keeps ``dataset`` (None: registered by hand, by upload or through lineage)."""
    if dataset.source_id is None:
        return None
    last = SourceScan.objects.filter(source=OuterRef("pk")).order_by("-id")
    source = (
        Source.objects.filter(pk=dataset.source_id)
        .annotate(last_scan_status=Subquery(last.values("status")[:1]))
        .first()
    )
    if source is None:
        return None
    uri = (
        DatasetVersion.objects.filter(dataset=dataset)
        .exclude(source_uri="")
        .order_by("-number")
        .values_list("source_uri", flat=True)
        .first()
    )
    return Origin(
        source=source,
        uri=uri or "",
        last_scan_at=source.last_scan_at,
        last_scan_status=source.last_scan_status,
    )
