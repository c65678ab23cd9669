"""Erasing a value from what lineage stored (an erasure, governance.erasures): the events' bodies
as received (their facets may quote data: data-quality metrics, samples, a job's SQL) and the
facets folded into nodes, runs and their inputs and outputs. The one exception to "an event's body
is never updated": a data subject's erasure outranks the record. An event's ``body_hash`` (the
de-duplication key) stays; it is a digest of the whole event and cannot give the value back."""

from __future__ import annotations

from django.db import transaction

from catalog.redaction import Needle, erase_in
from lineage.models import LineageEvent, Node, Run, RunIO

STORES = [
    (LineageEvent, ["body", "error"]),
    (Node, ["facets", "description"]),
    (Run, ["facets"]),
    (RunIO, ["facets"]),
]


@transaction.atomic
def erase(*, needle: Needle) -> dict[str, int]:
    """Rewrite every lineage row that holds the value without it → rows changed per store."""
    return {
        model._meta.model_name: len(erase_in(model.objects.all(), fields, needle)) for model, fields in STORES
    }
