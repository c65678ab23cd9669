"""Which versions' data hold a value in their personal-data columns (an erasure's search).

A dataset's personal-data columns are those PII detection or a steward marked (catalog columns'
``is_pii``, each version's profile's PII findings) and the steward's sensitive columns; a column
hint narrows the search to that column, marked or not. Only those columns are read (column
projection), where the data lives: stored copies, registered paths and source references alike
(the answer says which is which; only stored copies are ours to delete). Deleted versions have no
data left and are not read.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from catalog.models import Column, Dataset, DatasetVersion
from catalog.redaction import Needle
from profiling.models import ProfileRun

log = logging.getLogger(__name__)


def _personal_columns(dataset: Dataset, run: ProfileRun | None) -> set[str]:
    marked = set(Column.objects.filter(dataset=dataset, is_pii=True).values_list("name", flat=True))
    return marked | set(dataset.sensitive_columns or []) | set((run.pii or {}) if run is not None else {})


def _names(version: DatasetVersion, run: ProfileRun | None) -> set[str]:
    if run is not None and run.schema:
        return {c.get("name") for c in run.schema if isinstance(c, dict)}
    return set(
        Column.objects.filter(dataset_id=version.dataset_id, present=True).values_list("name", flat=True)
    )


def _matches(array: pa.ChunkedArray | pa.Array, needle: Needle) -> int:
    try:
        text = pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return 0  # nested values: not a value a data subject is named by
    hits = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(text)), needle.text)
    return int(pc.sum(hits).as_py() or 0)


def _search(version: DatasetVersion, columns: list[str], needle: Needle) -> dict[str, int]:
    """{column: matching rows} of one version, reading only ``columns``."""
    from profiling.engine.readers import iter_batches
    from profiling.locations import location_of

    location = location_of(version)
    if location is None:
        raise LookupError("its storage cannot be read in place")
    found: dict[str, int] = {}
    for batch in iter_batches(location, columns=columns):
        for name in columns:
            if name in batch.schema.names:
                n = _matches(batch.column(name), needle)
                if n:
                    found[name] = found.get(name, 0) + n
    return found


def versions_holding(
    *, needle: Needle, column: str = ""
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """→ (versions whose personal-data columns hold the value, versions that could not be read).

    Each found: ``{"dataset", "urn", "version", "columns": {name: rows}, "stored_copy", "reference"}``."""
    found, unread = [], []
    versions = (
        DatasetVersion.objects.filter(deleted_at=None)
        .select_related("dataset")
        .order_by("dataset_id", "number")
    )
    runs = {r.version_id: r for r in ProfileRun.objects.only("version_id", "pii", "schema")}
    for version in versions.iterator(chunk_size=200):
        run = runs.get(version.pk)
        wanted = {column} if column else _personal_columns(version.dataset, run)
        columns = sorted(wanted & _names(version, run))
        if not columns:
            continue
        entry = {"dataset": version.dataset_id, "urn": version.dataset.urn, "version": version.number}
        try:
            hits = _search(version, columns, needle)
        except Exception as exc:  # noqa: BLE001 - one unreadable version must not hide the others
            log.warning("erasure search could not read %s: %s", version, exc)
            unread.append({**entry, "reason": f"{exc.__class__.__name__}: {str(exc)[:200]}"})
            continue
        if hits:
            found.append(
                {**entry, "columns": hits, "stored_copy": bool(version.file), "reference": not version.file}
            )
    return found, unread
