"""Erasing one value (a data subject's e-mail, an id) from what Gouvernail stored: the matching rule,
the JSON walk that replaces it, and the batched rewrite of a model's fields. Every app erases its
own rows with these (profiling.erasure, lineage.erasure, governance.erasures), so that "holds the
value" means the same everywhere.

Matching: a stored string equal to the value, ignoring case and surrounding spaces, is the value;
so is a number equal to it where numbers are data values (VALUE_KEYS: top values, min/max,
failing values...), never a count or a score. A longer text holding it (a message "Share of group a@b.org is ...") has it cut out too,
but only for values of at least MIN_SUBSTRING characters that are not all digits: an id "12" must
not erase every "12" of every figure. Matched strings become ERASED, matched numbers None (a figure
stays a number or nothing), matched keys of a mapping (a histogram's bins) become ERASED.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

ERASED = "[erased]"
MIN_SUBSTRING = 6
# Shorter values name nobody in particular, and would erase unrelated values ("ab", "42").
MIN_VALUE_LENGTH = 3


def normalised(value: str) -> str:
    return str(value).strip().casefold()


def value_digest(value: str) -> str:
    """HMAC-SHA256 of the normalised value under SECRET_KEY: what an erasure record keeps instead of
    the value (the same value gives the same digest, so a repeated erasure is recognised; without
    the key it cannot be turned back or guessed by hashing candidates)."""
    return hmac.new(settings.SECRET_KEY.encode(), normalised(value).encode(), hashlib.sha256).hexdigest()


@dataclass
class Needle:
    """The value to erase, with its matching rule (module docstring)."""

    value: str
    text: str = field(init=False)
    pattern: re.Pattern | None = field(init=False)

    def __post_init__(self) -> None:
        self.text = normalised(self.value)
        long_enough = len(self.text) >= MIN_SUBSTRING and not self.text.isdigit()
        self.pattern = re.compile(re.escape(self.value.strip()), re.IGNORECASE) if long_enough else None

    def equals(self, item: Any) -> bool:
        if isinstance(item, bool) or item is None:
            return False
        if isinstance(item, int | float):
            try:
                return float(item) == float(self.text)
            except ValueError:
                return False
        return isinstance(item, str) and normalised(item) == self.text

    def in_text(self, item: Any) -> bool:
        return isinstance(item, str) and (
            self.equals(item) or (self.pattern is not None and self.pattern.search(item) is not None)
        )


# Keys under which stored numbers are data values (top values, samples, ranges, failing values),
# not figures: a numeric value (an id 4711) is erased there only, never from counts and scores.
VALUE_KEYS = frozenset(
    {
        "value", "values", "min", "max", "mode", "top_values", "samples", "sample", "examples", "quantiles",
        "value_set", "min_value", "max_value", "observed_value", "partial_unexpected_list",
        "partial_unexpected_counts", "unexpected_list", "partial_unexpected_index_list", "details",
        "bins",  # a histogram's edges: the first and last are the minimum and maximum
    }
)  # fmt: skip


def scrub(obj: Any, needle: Needle, *, values: bool = False) -> tuple[Any, int]:
    """``obj`` (JSON: dicts, lists, strings, numbers) with the value erased → (new obj, matches).
    ``values``: ``obj`` sits under one of VALUE_KEYS (numbers there are data values)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        n = 0
        for key, value in obj.items():
            new_value, k = scrub(value, needle, values=values or key in VALUE_KEYS)
            if needle.in_text(key):
                key = ERASED if needle.equals(key) else needle.pattern.sub(ERASED, key)
                while key in out:
                    key += "*"
                k += 1
            out[key] = new_value
            n += k
        return out, n
    if isinstance(obj, list):
        items = [scrub(v, needle, values=values) for v in obj]
        return [v for v, _ in items], sum(k for _, k in items)
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return (None, 1) if values and needle.equals(obj) else (obj, 0)
    if needle.equals(obj):
        return ERASED, 1
    if isinstance(obj, str) and needle.pattern is not None and needle.pattern.search(obj):
        return needle.pattern.sub(ERASED, obj), 1
    return obj, 0


def _may_hold(queryset: QuerySet, fields: list[str], needle: Needle) -> QuerySet:
    """Rows whose fields' text may hold the value, narrowed by the database where it can tell.

    A JSON column's text escapes some characters (SQLite writes non-ASCII as \\uXXXX, both escape
    quotes), so the database narrows only for values without them; numbers match as numbers, not
    as text, so a numeric value is looked for in every row."""
    plain = needle.text.isascii() and not any(c in needle.text for c in '"\\')
    if not plain or _is_number(needle.text):
        return queryset
    where = Q()
    for name in fields:
        alias = f"_text_{name}"
        queryset = queryset.annotate(**{alias: Cast(name, TextField())})
        where |= Q(**{f"{alias}__icontains": needle.value.strip()})
    return queryset.filter(where)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rows_holding(queryset: QuerySet, fields: list[str], needle: Needle) -> list[tuple[Any, dict[str, Any]]]:
    """[(row, {field: erased value})] for the rows of ``queryset`` whose ``fields`` hold the value."""
    found = []
    for row in _may_hold(queryset, fields, needle).only("pk", *fields).iterator(chunk_size=500):
        changed = {}
        for name in fields:
            new, n = scrub(getattr(row, name), needle)
            if n:
                changed[name] = new
        if changed:
            found.append((row, changed))
    return found


@transaction.atomic
def erase_in(queryset: QuerySet, fields: list[str], needle: Needle) -> list[Any]:
    """Rewrite the rows of ``queryset`` whose ``fields`` hold the value, without it → those rows'
    primary keys. Inside the caller's transaction (an erasure is one transaction)."""
    model = queryset.model
    touched = []
    for row, changed in rows_holding(queryset, fields, needle):
        model.objects.filter(pk=row.pk).update(**changed)
        touched.append(row.pk)
    return touched


def documentation_mentions(*, needle: Needle) -> list[dict[str, Any]]:
    """Datasets whose documentation (title, description, columns' descriptions) quotes the value:
    reported by an erasure, not rewritten, since people wrote it and people edit it."""
    from catalog.models import Column, Dataset

    ids = {row.pk for row, _ in rows_holding(Dataset.objects.all(), ["title", "description"], needle)}
    ids |= {
        Column.objects.values_list("dataset_id", flat=True).get(pk=row.pk)
        for row, _ in rows_holding(Column.objects.all(), ["description"], needle)
    }
    return [{"dataset": d.pk, "urn": d.urn} for d in Dataset.objects.filter(pk__in=ids).order_by("pk")]


@transaction.atomic
def erase_catalog(*, needle: Needle) -> dict[str, int]:
    """Erase the value from the catalog's machine-written rows: the outbox's queued task arguments
    (a webhook's payload waits there until sent)."""
    from catalog.models import OutboxMessage

    return {
        "outboxmessage": len(erase_in(OutboxMessage.objects.all(), ["args", "kwargs", "last_error"], needle))
    }
