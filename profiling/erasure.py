"""Erasing a value from what profiling stored (an erasure, governance.erasures): profiles (top
values, samples, min/max, quantiles, histograms, PII findings, drift states), quality results'
failing values, alerts' figures and messages, expectation suites' value sets and ranges. The parts'
engine states of finished profiles (binary, superseded by the merged profile) are deleted.
Matching and rewriting: catalog.redaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from catalog.redaction import Needle, erase_in, rows_holding, scrub
from profiling.models import (
    Alert,
    ExpectationSuite,
    ProfilePart,
    ProfileRun,
    QualityResult,
    RunStatus,
)

PROFILE_FIELDS = ["columns", "pii", "quality", "bias", "drift", "drift_state", "warnings"]
STORES: list[tuple[Any, list[str]]] = [
    (ProfileRun, PROFILE_FIELDS),
    (QualityResult, ["results"]),
    (Alert, ["figures", "resolved_figures", "history", "message", "rule_spec"]),
    (ExpectationSuite, ["expectations"]),
]


def profiles_holding(*, needle: Needle) -> list[dict[str, Any]]:
    """The stored profiles that hold the value: ``{"dataset", "version", "columns": [names]}``, the
    columns being those whose statistics quote it (empty: elsewhere in the profile)."""
    out = []
    for run, _changed in rows_holding(
        ProfileRun.objects.order_by("dataset_id", "version_number"), PROFILE_FIELDS, needle
    ):
        full = ProfileRun.objects.only("dataset_id", "version_number", "columns").get(pk=run.pk)
        names = [c.get("name") for c in full.columns or [] if isinstance(c, dict) and scrub(c, needle)[1]]
        out.append({"dataset": full.dataset_id, "version": full.version_number, "columns": names})
    return out


@transaction.atomic
def erase(*, needle: Needle) -> dict[str, int]:
    """Rewrite every profiling row that holds the value without it → rows changed per store."""
    counts = {
        model._meta.model_name: len(erase_in(model.objects.all(), fields, needle)) for model, fields in STORES
    }
    finished = ProfilePart.objects.filter(run__status__in=(RunStatus.SUCCEEDED, RunStatus.FAILED))
    counts["profilepart"] = finished.delete()[0]
    return counts
