"""Evaluations of a model version: a pipeline posts predictions (a catalogued evaluation dataset
version with label, prediction and optional score columns), a worker computes Fairlearn's figures
overall and per group of each of the dataset's sensitive columns (governance.evaluation_metrics),
and the card and the model page show them.

What is refused at once (400/403/404, nothing stored): an unknown model, dataset or version, a
dataset the caller may not read, a caller who may not edit the model, columns that the version's
profile says are not there. What only the data can tell (a third label value, an ambiguous
positive label, NaN scores, a column missing from an unprofiled file) fails the evaluation with a
readable error; what a reader must know of the figures (the evaluation data is training data, a
group without positives, a small group) is a warning beside them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog import outbox
from catalog.urns import split_version
from config.errors import NotAllowed
from governance import audit, events
from governance.evaluation_metrics import (
    MAX_GROUPS,
    EvaluationError,
    binary,
    compute,
    groups_of,
    positive_values,
)
from governance.models import EvaluationStatus, ModelEvaluation, ModelVersion, TrainingInput, Via
from governance.registry import can_edit_model
from governance.selectors import resolve_urns
from profiling.visibility import may_see_values

log = logging.getLogger(__name__)

RUN_TASK = "governance.run_evaluation"
OVERLAP_WARNING = (
    "The evaluation data is a dataset version the model was trained on ({ref}): these figures "
    "describe the training data, not data the model has not seen."
)
HIDDEN_ERROR = (
    "The evaluation failed. The reason may quote the data: it is shown to those who may read the "
    "evaluation dataset's values."
)
HIDDEN_GROUPS = (
    "Group names are values of the evaluation dataset's sensitive columns: they are shown to those "
    "who may read its values."
)


def _column(field: str, value: Any, *, required: bool = True) -> str:
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise ValidationError({field: ["A column name of at most 255 characters."]})
    return value


def _evaluation_version(ref: Any, actor):
    """The dataset and version ``<URN>@<version>`` names, readable by ``actor`` (values included)."""
    if not isinstance(ref, str) or "@" not in ref:
        raise ValidationError({"dataset": ["A dataset version: <dataset URN>@<version number>."]})
    urn, number = split_version(ref)
    if number is None:
        raise ValidationError({"dataset": ["A dataset version: <dataset URN>@<version number>."]})
    dataset = resolve_urns([urn], field="dataset")[urn]
    if not type(dataset).objects.visible_to(actor).filter(pk=dataset.pk).exists():
        raise ValidationError({"dataset": [f"Unknown dataset: {urn}."]})
    version = dataset.versions.filter(number=number, deleted_at__isnull=True).first()
    if version is None:
        raise ValidationError({"dataset": [f"Unknown dataset version: {urn}@{number}."]})
    if not may_see_values(actor, dataset):
        # The same rule as a profile's values (profiling.visibility): the evaluation reads them.
        raise NotAllowed(
            f"You may not read the values of {urn} ({dataset.sensitivity}): its owner, stewards, "
            "staff and those with approved access may evaluate on it."
        )
    return dataset, version


def _check_known_columns(version, columns: dict[str, str]) -> None:
    """Refuse columns the version's profile says it does not have (unprofiled: the worker checks)."""
    from profiling.selectors import profile_for_version

    profile = profile_for_version(version) or {}
    if profile.get("status") != "succeeded" or not profile.get("columns"):
        return
    known = {c.get("name") for c in profile["columns"]}
    errors = {
        f: [f"Version {version.number} has no column {c!r}."] for f, c in columns.items() if c not in known
    }
    if errors:
        raise ValidationError(errors)


def can_evaluate(actor, mv: ModelVersion) -> bool:
    """Whoever may edit the model (its owner or staff, registry.can_edit_model), and the account
    that registered this version (a pipeline registering for a person evaluates what it trained)."""
    if can_edit_model(actor, mv):
        return True
    return bool(actor is not None and actor.is_authenticated and mv.registered_by_id == actor.pk)


@transaction.atomic
def request_evaluation(
    *,
    actor,
    model_version: ModelVersion,
    dataset: Any,
    label_column: Any,
    prediction_column: Any,
    score_column: Any = "",
    positive_label: Any = None,
    via: str = Via.API,
) -> ModelEvaluation:
    """Queue an evaluation of ``model_version`` on a dataset version (``"<URN>@<n>"``).

    Who may: ``can_evaluate``, and only on data whose values they may read. The evaluation is
    audited now and computed by a worker after the commit."""
    if not can_evaluate(actor, model_version):
        raise NotAllowed(
            "Only the model's owner, the account that registered this version, or staff may evaluate it."
        )
    columns = {
        "label_column": _column("label_column", label_column),
        "prediction_column": _column("prediction_column", prediction_column),
    }
    if score := _column("score_column", score_column, required=False):
        columns["score_column"] = score
    if positive_label is not None and not isinstance(positive_label, str | int | float | bool):
        raise ValidationError({"positive_label": ["A label value: text, a number or a boolean."]})
    ds, version = _evaluation_version(dataset, actor)
    _check_known_columns(version, columns)
    ref = f"{ds.urn}@{version.number}"
    overlaps = TrainingInput.objects.filter(model_version=model_version, dataset_version=version).exists()
    evaluation = ModelEvaluation.objects.create(
        model_version=model_version,
        dataset_version=version,
        dataset_urn=ds.urn,
        version_number=version.number,
        label_column=columns["label_column"],
        prediction_column=columns["prediction_column"],
        score_column=score,
        positive_label=positive_label,
        sensitive_columns=list(ds.sensitive_columns or []),
        overlaps_training=overlaps,
        warnings=[OVERLAP_WARNING.format(ref=ref)] if overlaps else [],
        requested_by=actor,
    )
    audit.record(
        actor=actor,
        via=via,
        action="model.evaluation_requested",
        object_type="model",
        object_id=model_version.pk,
        object_urns=[ds.urn],
        after={"evaluation": evaluation.pk, "dataset": ref, **columns, "positive_label": positive_label},
    )
    outbox.enqueue(RUN_TASK, args=[evaluation.pk])
    return evaluation


# --------------------------------------------------------------------------- the worker's side
def _claim(evaluation_id: int) -> ModelEvaluation | None:
    """The queued evaluation, marked running (None when gone or already taken: a duplicate message)."""
    with transaction.atomic():
        ev = (
            ModelEvaluation.objects.select_for_update()
            .filter(pk=evaluation_id, status=EvaluationStatus.QUEUED)
            .first()
        )
        if ev is None:
            return None
        ev.status, ev.started_at = EvaluationStatus.RUNNING, timezone.now()
        ev.save(update_fields=["status", "started_at"])
    return ev


def run_evaluation(evaluation_id: int) -> str | None:
    """Compute one queued evaluation and store its figures, or fail it with the reason → its status."""
    ev = _claim(evaluation_id)
    if ev is None:
        return None
    try:
        figures, warnings = _figures_of(ev)
    except EvaluationError as exc:
        return _finish(ev, error=str(exc))
    except Exception as exc:  # a reader's error names the file's problem; anything else is logged
        from profiling.engine import ProfileError

        if isinstance(exc, ValidationError):  # e.g. a registered path no longer inside DATA_ROOTS
            return _finish(ev, error=f"The evaluation data could not be read: {' '.join(exc.messages)}")
        if not isinstance(exc, ProfileError):
            log.exception("evaluation %s failed", ev.pk)
            return _finish(ev, error="The evaluation failed unexpectedly; the worker's log has the details.")
        return _finish(ev, error=f"The evaluation data could not be read: {exc}")
    return _finish(ev, figures=figures, warnings=warnings)


def _figures_of(ev: ModelEvaluation):
    """(Figures, warnings) of an evaluation, from its dataset version's columns."""
    from profiling.runner import read_columns

    version = ev.dataset_version
    if version is None or version.deleted_at is not None:
        raise EvaluationError(f"The dataset version {ev.dataset_urn}@{ev.version_number} was deleted.")
    needed = [ev.label_column, ev.prediction_column, *([ev.score_column] if ev.score_column else [])]
    wanted = list(dict.fromkeys([*needed, *ev.sensitive_columns]))
    table = read_columns(version, wanted)
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise EvaluationError(f"Version {ev.version_number} has no column {', '.join(map(repr, missing))}.")
    warnings: list[str] = []
    table = _rows_with_predictions(table, ev, warnings)
    label, pred = _plain(table.column(ev.label_column)), _plain(table.column(ev.prediction_column))
    values = pc.unique(pa.concat_arrays([label, pred]))
    positive = ev.positive_label
    if positive is None and ev.dataset_version.dataset.label_column == ev.label_column:
        positive = ev.dataset_version.dataset.positive_label
    positives = positive_values(values.to_pylist(), positive, column=ev.label_column)
    y_true, y_pred = binary(label, positives), binary(pred, positives)
    scores = _scores(table, ev) if ev.score_column else None
    sensitive = {}
    for column in ev.sensitive_columns:
        if column not in table.column_names:
            warnings.append(f"Sensitive column {column} is not in the evaluation data: no groups for it.")
            continue
        groups = groups_of(_plain(table.column(column)))
        if len(groups.categories) > MAX_GROUPS:
            warnings.append(
                f"Sensitive column {column} has more than {MAX_GROUPS} distinct values; it is not "
                "treated as a group attribute (is it an identifier?)."
            )
            continue
        sensitive[column] = groups
    if not ev.sensitive_columns:
        warnings.append("The evaluation dataset names no sensitive columns: only overall figures.")
    figures = compute(y_true, y_pred, sensitive=sensitive, scores=scores)
    return figures, warnings + figures.warnings


def _plain(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _rows_with_predictions(table: pa.Table, ev: ModelEvaluation, warnings: list[str]) -> pa.Table:
    """The rows that have both a label and a prediction (the others are left out, and said so)."""
    keep = pc.and_(
        pc.is_valid(table.column(ev.label_column)), pc.is_valid(table.column(ev.prediction_column))
    )
    dropped = table.num_rows - pc.sum(keep).as_py() if table.num_rows else 0
    if dropped:
        warnings.append(f"{dropped} rows without a label or a prediction are left out.")
        table = table.filter(keep)
    label_type = table.schema.field(ev.label_column).type
    try:  # 1.0 predicted for the label 1, "1" for 1: one type, so that one value is one label
        pred = table.column(ev.prediction_column).cast(label_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EvaluationError(
            f"The prediction column {ev.prediction_column} holds values of another kind than the label "
            f"column {ev.label_column} ({table.schema.field(ev.prediction_column).type} and "
            f"{label_type})."
        ) from exc
    return table.set_column(table.schema.get_field_index(ev.prediction_column), ev.prediction_column, pred)


def _scores(table: pa.Table, ev: ModelEvaluation) -> np.ndarray:
    """The score column as floats; refuses text and NaN or missing scores (ROC AUC needs every one)."""
    column = _plain(table.column(ev.score_column))
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise EvaluationError(f"The score column {ev.score_column} holds {column.type} values, not numbers.")
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise EvaluationError(
            f"The score column {ev.score_column} holds {bad} NaN, infinite or missing scores among the "
            "rows evaluated; ROC AUC needs a score for every row."
        )
    return values


@transaction.atomic
def _finish(ev: ModelEvaluation, *, figures=None, warnings=(), error: str = "") -> str:
    """Store the outcome at once (all figures or none), audit it and record ``model.evaluated``."""
    ev = ModelEvaluation.objects.select_for_update().select_related("model_version__model").get(pk=ev.pk)
    ev.finished_at = timezone.now()
    if error:
        ev.status, ev.error = EvaluationStatus.FAILED, error[:2000]
    else:
        ev.status = EvaluationStatus.SUCCEEDED
        ev.overall, ev.by_group = figures.overall, figures.by_group
        ev.equalized_odds_difference = figures.equalized_odds_difference
        ev.demographic_parity_difference = figures.demographic_parity_difference
        ev.warnings = list(dict.fromkeys([*ev.warnings, *warnings]))
    ev.save()
    summary = {
        "evaluation": ev.pk,
        "dataset": f"{ev.dataset_urn}@{ev.version_number}",
        "status": ev.status,
        "error": ev.error or None,
        "overall": ev.overall,
        "equalized_odds_difference": ev.equalized_odds_difference,
        "demographic_parity_difference": ev.demographic_parity_difference,
        "overlaps_training": ev.overlaps_training,
    }
    audit.record(
        actor=None,
        via=Via.SYSTEM,
        action="model.evaluated",
        object_type="model",
        object_id=ev.model_version_id,
        object_urns=[ev.dataset_urn],
        after=summary,
    )
    mv = ev.model_version
    events.record(
        "model.evaluated",
        events.model_evaluated_data(mv, summary),
        namespaces=[mv.model.namespace],
        subject=f"model:{mv.pk}",
    )
    return ev.status


# --------------------------------------------------------------------------- reading
def evaluation_as_seen_by(ev: ModelEvaluation, viewer) -> dict[str, Any]:
    """An evaluation as ``viewer`` may read it: the group names are values of the evaluation
    dataset's sensitive columns, so a viewer who may not read its values sees them numbered (the
    figures, which are rates and counts, stay), as a protected profile hides its groups."""
    data = {
        "id": ev.pk,
        "model": ev.model_version_id,
        "dataset": f"{ev.dataset_urn}@{ev.version_number}",
        "label_column": ev.label_column,
        "prediction_column": ev.prediction_column,
        "score_column": ev.score_column or None,
        "positive_label": ev.positive_label,
        "sensitive_columns": ev.sensitive_columns,
        "status": ev.status,
        "error": ev.error or None,
        "overall": ev.overall,
        "by_group": ev.by_group,
        "equalized_odds_difference": ev.equalized_odds_difference,
        "demographic_parity_difference": ev.demographic_parity_difference,
        "warnings": ev.warnings,
        "overlaps_training": ev.overlaps_training,
        "groups_hidden": False,
        "requested_by": ev.requested_by.get_username() if ev.requested_by_id else None,
        "created_at": ev.created_at.isoformat(),
        "started_at": ev.started_at.isoformat() if ev.started_at else None,
        "finished_at": ev.finished_at.isoformat() if ev.finished_at else None,
    }
    dataset = ev.dataset_version.dataset if ev.dataset_version_id else None
    if ev.by_group and (dataset is None or not may_see_values(viewer, dataset)):
        data["by_group"] = {
            column: {f"group {i}": figs for i, figs in enumerate(groups.values(), start=1)}
            for column, groups in ev.by_group.items()
        }
        data["groups_hidden"] = True
        data["warnings"] = [w for w in ev.warnings if not w.startswith("Group ")] + [HIDDEN_GROUPS]
    if ev.error and (dataset is None or not may_see_values(viewer, dataset)):
        data["error"] = HIDDEN_ERROR  # it may quote a label value
    return data
