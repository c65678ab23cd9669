"""What a scan found, written to the catalog: new datasets, new versions by reference, datasets gone
from the source. Nothing is written for a dataset whose fingerprint has not changed: a source that
did not change costs reads only (a few queries for all its datasets), no version and no audit record.

Each dataset is written under its own savepoint (batches of them per transaction), so one that fails
(a name the catalog refuses, a column limit) is rolled back alone, recorded as the scan's error, and
the rest are registered; nothing is left half-written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery

from catalog import services, signals, versions
from catalog.connectors import Found
from catalog.models import Dataset, DatasetVersion, Origin, ProfileStatus, Source
from config.errors import Conflict, NotAllowed

CHUNK = 500
# Datasets written per transaction: commits are most of a first scan's time; a batch holds SQLite's
# write lock for about a second at most.
WRITE_BATCH = 25


def _existing(found: list[Found]) -> dict[tuple[str, str], Dataset]:
    """The catalog's datasets named like what was found, with their latest version's fingerprint."""
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    by_namespace: dict[str, list[str]] = defaultdict(list)
    for item in found:
        by_namespace[item.namespace].append(item.name)
    out: dict[tuple[str, str], Dataset] = {}
    for namespace, names in by_namespace.items():
        for i in range(0, len(names), CHUNK):
            rows = Dataset.objects.filter(namespace=namespace, name__in=names[i : i + CHUNK]).annotate(
                latest_fingerprint=Subquery(latest.values("fingerprint")[:1]),
                latest_number=Subquery(latest.values("number")[:1]),
            )
            out.update(
                {
                    (d.namespace, d.name): d
                    for d in rows.only("id", "namespace", "name", "source_id", "removed_at_source")
                }
            )
    return out


def known_fingerprints(source: Source) -> dict[str, str]:
    """{name: latest fingerprint} of this source's datasets still at the source."""
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    rows = Dataset.objects.filter(source=source, removed_at_source=False).annotate(
        fingerprint=Subquery(latest.values("fingerprint")[:1])
    )
    return {name: fp for name, fp in rows.values_list("name", "fingerprint") if fp}


def apply_all(
    *,
    source: Source,
    found: list[Found],
    errors: list[dict[str, Any]],
    keep: set[str],
    progress: Callable[..., None],
) -> dict[str, int]:
    """Register, version and mark removed → the counts; errors are appended to ``errors``.

    ``keep``: names the connector could not read this time (not "removed", only failed)."""
    counts = {"found": len(found), "registered": 0, "changed": 0, "unchanged": 0, "removed": 0}
    existing = _existing(found)
    seen: set[int] = set()
    for start in range(0, len(found), WRITE_BATCH):
        # One commit per batch, a savepoint per dataset: a dataset that fails rolls back alone.
        with transaction.atomic():
            for item in found[start : start + WRITE_BATCH]:
                dataset = existing.get((item.namespace, item.name))
                if dataset is not None:
                    seen.add(dataset.pk)
                try:
                    outcome, pk = _apply_one(source, item, dataset)
                except (ValidationError, Conflict, NotAllowed) as exc:
                    errors.append({"name": item.name, "message": _message(exc)})
                    continue
                seen.add(pk)
                counts[outcome] += 1
        progress(min(start + WRITE_BATCH, len(found)) / max(1, len(found)), dict(counts))
    kept_ids = {d.pk for (ns, name), d in existing.items() if name in keep}
    counts["removed"] = _mark_removed(source, seen | kept_ids, keep)
    return counts


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _apply_one(source: Source, item: Found, dataset: Dataset | None) -> tuple[str, int]:
    """One dataset → ("registered" | "changed" | "unchanged" (nothing written), its id)."""
    if dataset is None:
        with transaction.atomic():
            dataset = _register(source, item)
            _add_version(source, dataset, item)
        return "registered", dataset.pk
    if dataset.source_id not in (None, source.pk):
        other = Source.objects.filter(pk=dataset.source_id).values_list("name", flat=True).first()
        raise Conflict(f"Already catalogued from the source {other}; a dataset belongs to one source.")
    unchanged = (
        dataset.source_id == source.pk
        and not dataset.removed_at_source
        and dataset.latest_fingerprint == item.fingerprint
    )
    if unchanged:
        return "unchanged", dataset.pk
    with transaction.atomic():
        was_removed = dataset.removed_at_source
        Dataset.objects.filter(pk=dataset.pk).update(source=source, removed_at_source=False)
        if was_removed:
            _announce(dataset.pk, {"removed_at_source": [True, False]})
        created = _add_version(source, dataset, item)
    return ("changed" if created or was_removed or dataset.source_id is None else "unchanged"), dataset.pk


def _add_version(source: Source, dataset: Dataset, item: Found) -> bool:
    """The found state as the dataset's next version → whether one was made. A source that does
    not profile marks it so (profiling, which queues a job for every version, leaves these alone)."""
    version, created = versions.add_version_from_reference(dataset=dataset, found=item)
    if created and not source.profile:
        versions.set_version_profile_status(version=version, status=ProfileStatus.SKIPPED)
    return created


def _register(source: Source, item: Found) -> Dataset:
    data: dict[str, Any] = {"sensitivity": source.sensitivity}
    if source.owner_id:
        data["owner"] = source.owner.username
    stewards = list(source.stewards.values_list("username", flat=True))
    if stewards:
        data["stewards"] = stewards
    if item.description:
        data["description"] = item.description
    dataset = services.create_dataset(
        actor=None, namespace=item.namespace, name=item.name, via="source", origin=Origin.SOURCE, **data
    )
    Dataset.objects.filter(pk=dataset.pk).update(source=source)
    dataset.source = source
    return dataset


def _mark_removed(source: Source, seen_ids: set[int], keep: set[str]) -> int:
    """Datasets of this source that the scan did not find: marked, kept with their history."""
    gone = [
        pk
        for pk, name in Dataset.objects.filter(source=source, removed_at_source=False).values_list(
            "pk", "name"
        )
        if pk not in seen_ids and name not in keep
    ]
    for i in range(0, len(gone), CHUNK):
        with transaction.atomic():
            Dataset.objects.filter(pk__in=gone[i : i + CHUNK]).update(removed_at_source=True)
            for pk in gone[i : i + CHUNK]:
                _announce(pk, {"removed_at_source": [False, True]})
    return len(gone)


def _announce(dataset_pk: int, changes: dict[str, list]) -> None:
    """Tell subscribers (the audit) that the scan changed a dataset's state at its source."""
    dataset = Dataset.objects.get(pk=dataset_pk)
    transaction.on_commit(
        lambda: signals.dataset_changed.send(
            sender=Dataset, dataset=dataset, actor=None, changes=changes, via="source"
        ),
        robust=True,
    )
