"""Reads of differentially private releases: the profile answer of a viewer without clearance, the
budget, the column bounds and the ledger (API and web page take them from here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiling.models import PrivacyBudget, PrivateRelease

NO_SETTINGS = (
    "No bounds or categories are set by a steward for this column: nothing is released about it and no "
    "ε is spent on it."
)


@dataclass
class Outcome:
    """What a viewer without clearance is answered: a release (or None) and, if none was made
    now, why."""

    release: PrivateRelease | None
    refusal: str | None
    budget: PrivacyBudget | None


DP_NOTE = (
    "Differentially private release: this dataset is {sensitivity} and you hold no approved access, so "
    "each figure below has calibrated noise added (OpenDP) and carries its privacy loss ε and a 95 % "
    "accuracy interval. Minima, maxima and the data's own values are never shown."
)
HIDDEN_ERROR = "Profiling failed (the reason is shown to those who may see the data)."


def budget_dict(budget: PrivacyBudget | None) -> dict[str, Any]:
    if budget is None:
        return {"epsilon_total": 0.0, "epsilon_spent": 0.0, "epsilon_per_release": None}
    return {
        "epsilon_total": budget.epsilon_total,
        "epsilon_spent": budget.epsilon_spent,
        "epsilon_per_release": budget.epsilon_per_release,
    }


def budget_of(version) -> PrivacyBudget | None:
    return PrivacyBudget.objects.filter(version=version).first()


def bounds_of(dataset) -> list[dict[str, Any]]:
    return [
        {"column": b.column, "lower": b.lower, "upper": b.upper, "bins": b.bins, "categories": b.categories}
        for b in dataset.privacy_bounds.order_by("column")
    ]


def ledger_entry(release: PrivateRelease) -> dict[str, Any]:
    return {
        "id": release.pk,
        "requested_by": release.requester or None,
        "created_at": release.created_at.isoformat(),
        "columns": release.columns,
        "epsilon": release.epsilon,
    }


def ledger(version):
    """The version's releases, newest first (a queryset, for pagination)."""
    return PrivateRelease.objects.filter(version=version).order_by("-created_at", "-id")


def _column(figures: dict[str, Any]) -> dict[str, Any]:
    """A released column in API.md's column shape: what is not released is null or empty."""
    return {
        "name": figures["name"],
        "type": figures.get("type"),
        "null_count": figures.get("null_count"),
        "null_fraction": figures.get("null_fraction"),
        "distinct_count": None,
        "min": None,
        "max": None,
        "mean": figures.get("mean"),
        "std": None,
        "quantiles": figures.get("quantiles"),
        "histogram": figures.get("histogram") or {"bins": [], "counts": []},
        "top_values": [],
        "pii": [],
    }


def dp_profile_answer(profile: dict[str, Any], *, outcome: Outcome, dataset) -> dict[str, Any]:
    """The profile as a viewer without clearance sees it: the job's state, and only the figures of
    the stored release (``profile`` is the exact answer; only its state and column names are used)."""
    release = outcome.release
    body = release.body if release is not None else {}
    released = {c["name"] for c in body.get("columns") or []}
    omitted = list(body.get("omitted") or [])
    named = {o["column"] for o in omitted}
    for column in profile.get("columns") or []:
        name = column.get("name") if isinstance(column, dict) else None
        if isinstance(name, str) and name not in released and name not in named:
            omitted.append({"column": name, "reason": NO_SETTINGS})
    return {
        "status": profile.get("status"),
        "progress": profile.get("progress"),
        "error": HIDDEN_ERROR if profile.get("error") else None,
        "started_at": profile.get("started_at"),
        "finished_at": profile.get("finished_at"),
        "release": "dp",
        "row_count": body.get("row_count"),
        "columns": [_column(c) for c in body.get("columns") or []],
        "omitted": omitted,
        "quality": None,
        "bias": None,
        "drift": None,
        "budget": budget_dict(outcome.budget),
        "epsilon": release.epsilon if release is not None else None,
        "released_at": release.created_at.isoformat() if release is not None else None,
        "refusal": outcome.refusal,
        "warnings": [],
        "governance_warnings": [],
        "values_hidden": DP_NOTE.format(sensitivity=dataset.sensitivity),
    }
