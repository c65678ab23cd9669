"""Namespace rules for hidden datasets (``HiddenNamespace``): staff hide a whole namespace.

A rule is written onto its datasets (``Dataset.hidden``), so that every read is a plain condition
on the flag (catalog.visibility): adding a rule hides the datasets already there, and every dataset
registered into the namespace later (by the API, lineage or a source's scan: catalog.services asks
``hidden_namespaces_among``) is hidden from the start. While the rule stands, none of them can be
unhidden. Removing a rule unhides nothing: which of its datasets may be shown again is for their
owners (or staff) to decide, one by one, rather than revealed all at once by one deletion.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import signals
from catalog.models import Dataset, HiddenNamespace
from catalog.search_index import index_dataset
from config.errors import Conflict, NotAllowed


def hidden_namespaces_among(namespaces: Iterable[str]) -> set[str]:
    """The namespaces of ``namespaces`` that a rule hides."""
    wanted = set(namespaces)
    if not wanted:
        return set()
    return set(HiddenNamespace.objects.filter(namespace__in=wanted).values_list("namespace", flat=True))


def _check_staff(actor) -> None:
    if not (actor is not None and actor.is_authenticated and actor.is_staff):
        raise NotAllowed("Only staff may hide or show whole namespaces.")


@transaction.atomic
def add_hidden_namespace(*, actor, namespace: str, note: str = "") -> HiddenNamespace:
    """Hide every dataset of ``namespace``, now and registered later (staff only) → the rule."""
    _check_staff(actor)
    if not isinstance(namespace, str) or not namespace.strip() or namespace != namespace.strip():
        raise ValidationError({"namespace": ["A namespace, without surrounding white space."]})
    if len(namespace) > 255 or len(note or "") > 500:
        raise ValidationError({"namespace": ["At most 255 characters (and the note at most 500)."]})
    if HiddenNamespace.objects.filter(namespace=namespace).exists():
        raise Conflict(f"The namespace {namespace} is already hidden.", {"namespace": ["Already hidden."]})
    rule = HiddenNamespace.objects.create(namespace=namespace, note=note or "", created_by=actor)
    for dataset in Dataset.objects.select_for_update().filter(namespace=namespace, hidden=False):
        dataset.hidden = True
        dataset.save(update_fields=["hidden", "updated_at"])
        index_dataset(dataset)  # the narrow search row and its counts (PostgreSQL)
        changes = {"hidden": [False, True]}
        transaction.on_commit(
            lambda d=dataset, c=changes: signals.dataset_changed.send(
                sender=Dataset, dataset=d, actor=actor, changes=c, via="api"
            ),
            robust=True,
        )
    return rule


@transaction.atomic
def remove_hidden_namespace(*, actor, rule: HiddenNamespace) -> None:
    """Drop a namespace rule (staff only). Its datasets stay hidden (see the module docstring)."""
    _check_staff(actor)
    rule.delete()
