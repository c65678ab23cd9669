"""The privacy budget of a version and the releases it pays for (docs/privacy.md).

Stewards publish per-column bounds or categories (``set_bounds``) and give each version a budget
(``set_budget``). The first person without clearance who opens a protected version's profile gets
a release (``obtain_release``): computed once with OpenDP (profiling.privacy), stored, written to the
ledger and the audit trail (the ``privacy_spent_in_transaction`` hook, which governance turns into an
audit record), and served as stored from then on, so that a refresh draws no new noise. A release
is computed synchronously, under the budget's row lock: two first requests at once spend once (the
second waits and finds the stored release). A new release is only made when the steward changed the
settings it was computed with; when the budget left is less than a release costs, none is made and
the answer says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

import pyarrow as pa
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.permissions import can_change_dataset
from config.errors import NotAllowed
from profiling import signals
from profiling.engine.types import ProfileError
from profiling.models import PrivacyBounds, PrivacyBudget, PrivateRelease, RunStatus
from profiling.privacy import MAX_BINS, MAX_CATEGORIES, ColumnSpec, compute_release
from profiling.privacy_selectors import Outcome, dp_profile_answer

log = logging.getLogger(__name__)

NO_BUDGET = "No privacy budget is set for this version: a steward of the dataset sets one."
NO_BOUNDS = (
    "No column has bounds or categories set by a steward, so there is nothing to release about the "
    "columns; a steward sets them."
)
SPENT = (
    "The privacy budget of this version is spent (ε {spent:g} of {total:g}; a release costs "
    "{each:g}): no new release is made."
)
NOT_PROFILED = "The version's profile has not succeeded yet; a release is made once it has."
UNREADABLE = "The version's data could not be read for a release; nothing was spent."
EPSILON_TOLERANCE = 1e-9  # OpenDP's maps are floats; a release that costs its share exactly fits


# ---------------------------------------------------------------------------------------------
# Steward settings.
def _check_steward(actor, dataset) -> None:
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may change its privacy settings.")


def _positive(value: Any, field: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError({field: ["A positive finite number."]})
    return float(value)


def _clean_bounds(entry: Any, index: int) -> dict[str, Any]:
    where = f"columns[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("column"), str) or not entry["column"].strip():
        raise ValidationError({where: ["An object with a column name."]})
    lower, upper, categories = entry.get("lower"), entry.get("upper"), entry.get("categories") or []
    bins = entry.get("bins", 10)
    if (lower is None) != (upper is None):
        raise ValidationError({where: ["Give both lower and upper bounds, or neither."]})
    if lower is not None:
        for name, value in (("lower", lower), ("upper", upper)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValidationError({f"{where}.{name}": ["A finite number."]})
        if not lower < upper:
            raise ValidationError({where: ["The lower bound must be less than the upper bound."]})
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise ValidationError({f"{where}.bins": [f"An integer from 1 to {MAX_BINS}."]})
    if not isinstance(categories, list) or not all(isinstance(c, str) and c for c in categories):
        raise ValidationError({f"{where}.categories": ["A list of non-empty strings."]})
    if len(set(categories)) != len(categories) or len(categories) > MAX_CATEGORIES:
        raise ValidationError({f"{where}.categories": [f"At most {MAX_CATEGORIES} distinct categories."]})
    if lower is None and not categories:
        raise ValidationError({where: ["Give bounds (lower, upper) or categories."]})
    if lower is not None and categories:
        raise ValidationError({where: ["Give bounds or categories, not both."]})
    return {"column": entry["column"], "lower": lower, "upper": upper, "bins": bins, "categories": categories}


def _bounds_dict(b: PrivacyBounds) -> dict[str, Any]:
    return {
        "column": b.column,
        "lower": b.lower,
        "upper": b.upper,
        "bins": b.bins,
        "categories": b.categories,
    }


@transaction.atomic
def set_bounds(*, actor, dataset, columns: Any, via: str = "api") -> list[dict[str, Any]]:
    """Replace the dataset's published column bounds and categories (all of them; a column left
    out loses its settings). Bounds in the wrong order or malformed: ValidationError, nothing saved."""
    _check_steward(actor, dataset)
    if not isinstance(columns, list):
        raise ValidationError(
            {"columns": ["A list of {column, lower, upper, bins} or {column, categories}."]}
        )
    cleaned = [_clean_bounds(entry, i) for i, entry in enumerate(columns)]
    names = [c["column"] for c in cleaned]
    if len(set(names)) != len(names):
        raise ValidationError({"columns": ["Each column at most once."]})
    before = [_bounds_dict(b) for b in dataset.privacy_bounds.all()]
    dataset.privacy_bounds.all().delete()
    PrivacyBounds.objects.bulk_create(PrivacyBounds(dataset=dataset, updated_by=actor, **c) for c in cleaned)
    after = [_bounds_dict(b) for b in dataset.privacy_bounds.all()]
    _announce_settings(
        dataset=dataset, version=None, actor=actor, changes={"bounds": [before, after]}, via=via
    )
    return after


@transaction.atomic
def set_budget(
    *, actor, version, epsilon_total: Any, epsilon_per_release: Any = None, via: str = "api"
) -> PrivacyBudget:
    """Set a version's total ε (and what one release spends, by default 1 or the total if less).
    The total may not fall below what is already spent."""
    _check_steward(actor, version.dataset)
    total = _positive(epsilon_total, "epsilon_total")
    budget, _ = PrivacyBudget.objects.select_for_update().get_or_create(
        version=version, defaults={"dataset": version.dataset}
    )
    each = (
        min(1.0, total)
        if epsilon_per_release is None
        else _positive(epsilon_per_release, "epsilon_per_release")
    )
    if each > total:
        raise ValidationError({"epsilon_per_release": ["At most the total ε."]})
    if total + EPSILON_TOLERANCE < budget.epsilon_spent:
        raise ValidationError(
            {"epsilon_total": [f"At least what is already spent (ε {budget.epsilon_spent:g})."]}
        )
    before = {"epsilon_total": budget.epsilon_total, "epsilon_per_release": budget.epsilon_per_release}
    budget.epsilon_total, budget.epsilon_per_release, budget.updated_by = total, each, actor
    budget.save()
    after = {"epsilon_total": total, "epsilon_per_release": each}
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    _announce_settings(dataset=version.dataset, version=version, actor=actor, changes=changes, via=via)
    return budget


def _announce_settings(*, dataset, version, actor, changes: dict, via: str) -> None:
    if changes:
        signals.privacy_settings_changed_in_transaction.send(
            sender=PrivacyBudget, dataset=dataset, version=version, actor=actor, changes=changes, via=via
        )


# ---------------------------------------------------------------------------------------------
# Releases.
def column_specs(dataset) -> list[ColumnSpec]:
    return [
        ColumnSpec(name=b.column, lower=b.lower, upper=b.upper, bins=b.bins, categories=tuple(b.categories))
        for b in dataset.privacy_bounds.order_by("column")
    ]


def fingerprint(specs: list[ColumnSpec], epsilon: float) -> str:
    """Names the settings a release is computed with: the same settings, the same release."""
    data = [[s.name, s.lower, s.upper, s.bins, list(s.categories)] for s in specs]
    return hashlib.sha256(json.dumps([data, epsilon], sort_keys=True).encode()).hexdigest()


def read_columns(version, names: list[str]) -> pa.Table:
    """The version's data, only ``names`` (those it has), read as the profile read it (same
    reader, same types)."""
    from profiling.engine.readers import iter_batches
    from profiling.runner import where_to_read

    run = getattr(version, "profile_run", None)
    types = (run.method or {}).get("read_types") if run is not None else None
    location, tmp = where_to_read(version)
    try:
        batches = list(iter_batches(location, columns=names or None, column_types=types or None))
    finally:
        if tmp is not None:
            tmp.close()
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    return table.select([n for n in names if n in table.column_names])


def latest_release(version) -> PrivateRelease | None:
    return PrivateRelease.objects.filter(version=version).order_by("-created_at", "-id").first()


@transaction.atomic
def obtain_release(*, actor, version, via: str = "api") -> Outcome:
    """The release a viewer without clearance sees: the stored one for the current settings, else a
    new one if the budget allows (spent, recorded in the ledger and audited), else the latest
    stored one (if any) with the reason no new one was made."""
    budget = PrivacyBudget.objects.select_for_update().filter(version=version).first()
    if budget is None:
        return Outcome(latest_release(version), NO_BUDGET, None)
    specs = column_specs(version.dataset)
    fp = fingerprint(specs, budget.epsilon_per_release)
    stored = PrivateRelease.objects.filter(version=version, fingerprint=fp).order_by("-id").first()
    if stored is not None:
        return Outcome(stored, None, budget)
    run = getattr(version, "profile_run", None)
    if run is None or run.status != RunStatus.SUCCEEDED:
        return Outcome(latest_release(version), NOT_PROFILED, budget)
    if not specs:
        return Outcome(latest_release(version), NO_BOUNDS, budget)
    each = budget.epsilon_per_release
    if budget.epsilon_spent + each > budget.epsilon_total + EPSILON_TOLERANCE:
        message = SPENT.format(spent=budget.epsilon_spent, total=budget.epsilon_total, each=each)
        return Outcome(latest_release(version), message, budget)
    try:
        table = read_columns(version, [s.name for s in specs])
    except (ProfileError, OSError) as exc:
        log.warning("data of %s not read for a private release: %s", version, exc)
        return Outcome(latest_release(version), UNREADABLE, budget)
    computed = compute_release(table, specs, epsilon=each)
    if not computed.columns:
        # Nothing usable (no column found, or of the wrong kind): nothing drawn, nothing spent.
        reasons = "; ".join(f"{o['column']}: {o['reason']}" for o in computed.omitted)
        return Outcome(latest_release(version), f"No column could be released ({reasons}).", budget)
    body = {**computed.body, "omitted": computed.omitted}
    release = PrivateRelease.objects.create(
        version=version,
        dataset=version.dataset,
        fingerprint=fp,
        epsilon=computed.epsilon,
        columns=computed.columns,
        body=body,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        requester=actor.get_username() if getattr(actor, "is_authenticated", False) else "",
    )
    budget.epsilon_spent += computed.epsilon
    budget.save(update_fields=["epsilon_spent", "updated_at"])
    signals.privacy_spent_in_transaction.send(sender=PrivateRelease, release=release, actor=actor, via=via)
    return Outcome(release, None, budget)


def profile_answer_for(*, user, version, via: str = "api") -> dict[str, Any]:
    """The profile ``user`` may see: the exact one (with ``values_hidden``) when they may see the
    values (profiling.visibility decides), else the differentially private release."""
    from profiling import selectors
    from profiling.visibility import may_see_values, profile_for_viewer

    profile = selectors.profile_answer(version)
    if may_see_values(user, version.dataset):
        return profile_for_viewer(profile, user=user, dataset=version.dataset)
    outcome = obtain_release(actor=user, version=version, via=via)
    return dp_profile_answer(profile, outcome=outcome, dataset=version.dataset)
