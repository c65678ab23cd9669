"""A dataset's columns: the schema as inferred or reported, PII found by detection, and what
stewards document."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import signals
from catalog.formats import too_many_columns
from catalog.models import Column, Dataset
from catalog.permissions import can_change_dataset
from catalog.search_index import index_dataset
from config.errors import NotAllowed

PRIMARY_KEY_TAG = "primary key"  # a column of the table's primary key, as its source says
SCHEMA_FIELDS = ("position", "present", "type", "description", "tags")  # what a schema sets


def check_width(count: int) -> None:
    """Refuse data with more columns than a dataset may have (GOUVERNAIL_MAX_COLUMNS)."""
    limit = settings.GOUVERNAIL_MAX_COLUMNS
    if count > limit:
        raise ValidationError({"columns": [too_many_columns(count, limit)]})


@transaction.atomic
def set_columns_from_schema(*, dataset: Dataset, columns: list[dict[str, Any]]) -> None:
    """Write an inferred or reported schema ([{"name", "type", "description"?}]) to the columns.

    What stewards wrote (descriptions, tags, PII flags) is kept; a description in the schema only
    fills an empty one. Columns missing from the schema are marked absent, not deleted -- unless
    the dataset would then hold more than GOUVERNAIL_MAX_COLUMNS: absent columns that nobody
    documented go first. A schema wider than the limit is refused (ValidationError) and nothing
    is written.
    """
    specs: dict[str, dict[str, Any]] = {}
    for spec in columns:
        # A repeated header name would break (dataset, name) uniqueness: the first one counts.
        specs.setdefault(str(spec["name"])[:1024], spec)
    check_width(len(specs))
    existing = {c.name: c for c in dataset.columns.select_for_update()}
    added, changed, fields = [], [], set()
    for position, (name, spec) in enumerate(specs.items()):
        col = existing.get(name)
        if col is None:
            col = Column(dataset=dataset, name=name)
            added.append(col)
        before = {f: getattr(col, f) for f in SCHEMA_FIELDS}
        col.position = position
        col.present = True
        if spec.get("type"):
            col.type = str(spec["type"])[:50]
        if spec.get("description") and not col.description:
            col.description = str(spec["description"])
        if spec.get("primary_key") and PRIMARY_KEY_TAG not in (col.tags or []):
            col.tags = [*(col.tags or []), PRIMARY_KEY_TAG]
        moved = {f for f in SCHEMA_FIELDS if getattr(col, f) != before[f]}
        if moved and col.pk is not None:
            changed.append(col)
            fields |= moved
    if changed:
        # Only the fields that changed: each one is a CASE over the rows in the statement.
        Column.objects.bulk_update(changed, [f for f in SCHEMA_FIELDS if f in fields], batch_size=500)
    Column.objects.bulk_create(added, batch_size=500)
    absent = [c for n, c in existing.items() if n not in specs]
    room = settings.GOUVERNAIL_MAX_COLUMNS - len(specs)
    if len(absent) > room:
        undocumented = [c.pk for c in absent if not (c.description or c.tags or c.is_pii)]
        Column.objects.filter(pk__in=undocumented[: len(absent) - room]).delete()
    Column.objects.filter(pk__in=[c.pk for c in absent], present=True).update(present=False)
    index_dataset(dataset)


@transaction.atomic
def mark_columns_pii(*, dataset: Dataset, findings: dict[str, list[str]]) -> None:
    """Record PII kinds found by detection ({column: [kinds]}); a steward's own flag is never cleared."""
    for col in dataset.columns.select_for_update().filter(name__in=list(findings)):
        kinds = sorted(set(findings[col.name]))
        col.pii_kinds = kinds
        if kinds:
            col.is_pii = True
        col.save(update_fields=["pii_kinds", "is_pii"])


@transaction.atomic
def update_column(*, actor, column: Column, via: str = "api", **data: Any) -> Column:
    """A steward documents a column: description, tags, PII flag."""
    if not can_change_dataset(actor, column.dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may document its columns.")
    before = {"description": column.description, "tags": list(column.tags), "is_pii": column.is_pii}
    for key, value in data.items():
        if key == "description":
            column.description = value or ""
        elif key == "tags":
            if not isinstance(value, list):
                raise ValidationError({"tags": ["A list of strings."]})
            column.tags = [str(t).strip().lower() for t in value if str(t).strip()]
        elif key == "is_pii":
            column.is_pii = bool(value)
        else:
            raise ValidationError({key: ["This field cannot be set."]})
    column.save()
    index_dataset(column.dataset)
    after = {"description": column.description, "tags": list(column.tags), "is_pii": column.is_pii}
    changes = {f"columns.{column.name}.{k}": [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        dataset = column.dataset
        transaction.on_commit(
            lambda: signals.dataset_changed.send(
                sender=Dataset, dataset=dataset, actor=actor, changes=changes, via=via
            ),
            robust=True,
        )
    return column
