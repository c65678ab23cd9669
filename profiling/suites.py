"""Editing a dataset's expectation suite (saving, importing a GX export), and what a stored suite
says about where it came from. The suite's GX form is checked by profiling.expectations.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.permissions import can_change_dataset
from config.errors import Conflict, NotAllowed
from profiling import signals
from profiling.expectations import normalize_expectations, parse_gx_export
from profiling.models import ExpectationSuite, SuiteOrigin


def suite_name(dataset) -> str:
    """The name a dataset's suite gets when nobody chose one."""
    return f"{dataset.namespace}:{dataset.name}"[:255]


def proposed_from(suite: ExpectationSuite) -> int | None:
    """The version a still-unedited proposed suite was learned from (None once edited/imported)."""
    if suite.origin != SuiteOrigin.PROPOSED:
        return None
    number = (suite.meta or {}).get("proposed_from_version")
    return number if isinstance(number, int) else None


def proposed_from_later(suite: ExpectationSuite, number: int) -> bool:
    """Is ``suite`` a proposal learned from a version later than ``number``?"""
    source = proposed_from(suite)
    return source is not None and source > number


def _check_can_edit(actor, dataset) -> None:
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may change its expectation suite.")


@transaction.atomic
def save_suite(
    *,
    actor,
    dataset,
    expectations: Any,
    name: str | None = None,
    meta: dict[str, Any] | None = None,
    origin: str = SuiteOrigin.EDITED,
    expected_version: int | None = None,
) -> ExpectationSuite:
    """Replace a dataset's expectation suite (GX form), after GX itself has checked every expectation.

    With ``expected_version`` (the version the editor read), a suite changed meanwhile by someone
    else is not overwritten: Conflict (409).
    """
    _check_can_edit(actor, dataset)
    checked = normalize_expectations(expectations)
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise ValidationError({"name": ["A string of at most 255 characters."]})
    if meta is not None and not isinstance(meta, dict):
        raise ValidationError({"meta": ["An object."]})
    suite = ExpectationSuite.objects.select_for_update().filter(dataset=dataset).first()
    current = suite.version if suite is not None else 0
    if expected_version is not None and expected_version != current:
        raise Conflict(
            f"The suite was changed meanwhile (now version {current}, you edited version {expected_version}); "
            "reload it and apply your change again.",
            {"version": [f"Expected {expected_version}, found {current}."]},
        )
    if suite is None:
        suite = ExpectationSuite(dataset=dataset, name=name or suite_name(dataset), version=0)
    suite.expectations = checked
    if name:
        suite.name = name
    if meta is not None:
        suite.meta = meta
    suite.version += 1
    suite.origin = origin
    suite.updated_by = actor if actor is not None and actor.is_authenticated else None
    suite.save()
    changes = {"expectation_suite.version": [current, suite.version]}
    transaction.on_commit(
        lambda: signals.suite_changed.send(
            sender=ExpectationSuite, dataset=dataset, actor=actor, suite=suite, origin=origin, changes=changes
        )
    )
    return suite


def import_suite(*, actor, dataset, data: Any) -> ExpectationSuite:
    """Replace a dataset's suite with one that Great Expectations exported (``suite.to_json_dict()``)."""
    _check_can_edit(actor, dataset)
    name, expectations, meta = parse_gx_export(data)
    return save_suite(
        actor=actor,
        dataset=dataset,
        expectations=expectations,
        name=name or None,
        meta=meta,
        origin=SuiteOrigin.IMPORTED,
    )
