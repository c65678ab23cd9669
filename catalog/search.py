"""Catalog search: what text a dataset is found by, and the query that finds it.

A first, portable implementation: the denormalised ``search_text`` (names split into words) is
matched word by word and ranked in Python-free SQL. The search issue replaces the matching with
PostgreSQL full-text search + trigram and SQLite FTS5 behind the same two functions.
"""

import re

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

_SPLIT = re.compile(r"[_.\-/:\s]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def split_words(text: str) -> list[str]:
    """``dim_customerOrders.v2`` → ``["dim", "customer", "orders", "v2"]``."""
    return [w.lower() for w in _SPLIT.split(text or "") if w]


def build_search_text(dataset) -> str:
    parts = [
        dataset.name,
        " ".join(split_words(dataset.name)),
        dataset.namespace,
        dataset.title,
        dataset.description,
    ]
    if dataset.pk:
        parts += list(dataset.tags.values_list("name", flat=True))
        for name, description in dataset.columns.values_list("name", "description"):
            parts += [name, " ".join(split_words(name)), description]
    return "\n".join(p for p in parts if p)


def index_dataset(dataset) -> None:
    """Refresh the text a dataset is found by (called by every catalog write that changes it)."""
    text = build_search_text(dataset)
    if text != dataset.search_text:
        type(dataset).objects.filter(pk=dataset.pk).update(search_text=text)
        dataset.search_text = text


def search(queryset: QuerySet, q: str) -> QuerySet:
    words = split_words(q)
    if not words:
        return queryset
    cond = Q()
    for w in words:
        cond &= Q(search_text__icontains=w)
    exact = q.strip()
    return (
        queryset.filter(cond)
        .annotate(
            search_rank=Case(
                When(name__iexact=exact, then=Value(100)),
                When(name__icontains=exact, then=Value(50)),
                When(title__icontains=exact, then=Value(20)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-search_rank", "namespace", "name")
    )
