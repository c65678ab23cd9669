"""Erasure of a data subject: given a value (an e-mail, an id), find the versions and stored profiles
whose personal-data columns hold it, report them, and purge the value from everything Gouvernail
stored, with a record and an audit entry that never repeat it (docs/privacy.md).

Searching the data (profiling.value_search) reads files and sources and takes long: it runs before
the transaction. Everything after is one transaction: each app rewrites its own rows
(catalog.redaction.erase_catalog, profiling.erasure, lineage.erasure, and governance's events,
deliveries and model evaluations here), the stored copies that hold the value are deleted when
asked (catalog.versions.delete_version: a tombstone, their files go on commit), the Erasure and its
audit record are written. A value found nowhere is refused (422) and nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import versions as catalog_versions
from catalog.models import DatasetVersion
from catalog.redaction import (
    MIN_VALUE_LENGTH,
    Needle,
    documentation_mentions,
    erase_catalog,
    erase_in,
    value_digest,
)
from config.errors import NotAllowed, Unprocessable
from governance import audit
from governance.models import Delivery, Erasure, Event, ModelEvaluation
from lineage import erasure as lineage_erasure
from profiling import erasure as profiling_erasure
from profiling import value_search

MAX_VALUE_LENGTH = 1000
GOVERNANCE_STORES: list[tuple[Any, list[str]]] = [
    (Event, ["data"]),
    (Delivery, ["response", "error"]),
    (
        ModelEvaluation,
        [
            "overall",
            "by_group",
            "equalized_odds_difference",
            "demographic_parity_difference",
            "warnings",
            "error",
        ],
    ),
]


def can_erase(user) -> bool:
    """Staff, or users given the permission to make erasures (governance.add_erasure)."""
    return bool(user and user.is_authenticated and (user.is_staff or user.has_perm("governance.add_erasure")))


def _check_value(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"value": ["The value to erase, as text (an e-mail, an id)."]})
    if len(value.strip()) < MIN_VALUE_LENGTH:
        raise ValidationError(
            {
                "value": [
                    f"At least {MIN_VALUE_LENGTH} characters: a shorter value names nobody in particular."
                ]
            }
        )
    if len(value) > MAX_VALUE_LENGTH:
        raise ValidationError({"value": [f"At most {MAX_VALUE_LENGTH} characters."]})
    return value.strip()


def _erase_governance(needle: Needle) -> dict[str, int]:
    return {
        model._meta.model_name: len(erase_in(model.objects.all(), fields, needle))
        for model, fields in GOVERNANCE_STORES
    }


def erase_value(
    *, actor, value: str, column: str = "", delete_versions: bool = False, via: str = "api"
) -> Erasure:
    """Find and purge ``value`` (see the module docstring) → the Erasure with its report.

    Raises NotAllowed (not staff nor a privacy officer), ValidationError (no usable value) and
    Unprocessable when the value is found nowhere (saying so if an earlier erasure took it)."""
    if not can_erase(actor):
        raise NotAllowed("Only staff or a privacy officer (governance.add_erasure) may erase a value.")
    needle = Needle(_check_value(value))
    column = (column or "").strip()[:1024]
    found, unread = value_search.versions_holding(needle=needle, column=column)
    return _purge(
        actor=actor,
        needle=needle,
        column=column,
        found=found,
        unread=unread,
        delete_versions=delete_versions,
        via=via,
    )


@transaction.atomic
def _purge(
    *, actor, needle: Needle, column: str, found: list, unread: list, delete_versions: bool, via: str
) -> Erasure:
    digest = value_digest(needle.value)
    profiles = profiling_erasure.profiles_holding(needle=needle)
    documentation = documentation_mentions(needle=needle)
    purged = {
        "catalog": erase_catalog(needle=needle),
        "profiling": profiling_erasure.erase(needle=needle),
        "lineage": lineage_erasure.erase(needle=needle),
        "governance": _erase_governance(needle),
    }
    rewritten = sum(
        n for store, counts in purged.items() for name, n in counts.items() if name != "profilepart"
    )
    if not (found or profiles or documentation or rewritten):
        earlier = Erasure.objects.filter(value_digest=digest).order_by("-id").first()
        said = f" Erasure {earlier.pk} of {earlier.created_at:%Y-%m-%d} erased it." if earlier else ""
        raise Unprocessable(
            f"The value was found nowhere: in no personal-data column of any version, no stored profile and "
            f"nothing else Gouvernail keeps.{said}",
            {"value": ["Found nowhere."]},
        )
    deleted = []
    if delete_versions:
        for entry in found:
            version = DatasetVersion.objects.select_related("dataset").get(
                dataset_id=entry["dataset"], number=entry["version"]
            )
            if version.file and version.deleted_at is None:
                catalog_versions.delete_version(actor=actor, version=version, via=via, check=False)
                entry["deleted"] = True
                deleted.append({"dataset": entry["dataset"], "version": entry["version"]})
    report = {
        "versions": found,
        "unread_versions": unread,
        "profiles": profiles,
        "documentation": documentation,
        "purged": purged,
        "deleted_versions": deleted,
    }
    erasure = Erasure.objects.create(
        value_digest=digest,
        column=column,
        delete_versions=delete_versions,
        report=report,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
    )
    audit.record(
        actor=actor,
        via=via,
        action="erasure.made",
        object_type="erasure",
        object_id=erasure.pk,
        object_urns=sorted({e["urn"] for e in found} | {d["urn"] for d in documentation}),
        after={
            "value_digest": digest,
            "column": column or None,
            "versions": len(found),
            "profiles": len(profiles),
            "deleted_versions": deleted,
        },
    )
    return erasure
