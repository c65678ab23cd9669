"""How a binary classifier behaves, overall and per group of each sensitive column, as Fairlearn
computes it: one ``MetricFrame`` per sensitive column (sklearn's and Fairlearn's metrics), and the
equalized-odds and demographic-parity differences taken from that same frame, as Fairlearn's
``equalized_odds_difference`` and ``demographic_parity_difference`` do (each of those builds a frame
of its own; reading them off ours gives the same figures for a third of the work).

Pure: numpy and pyarrow arrays in, JSON-ready figures out; no Django. governance.evaluations reads
the data and stores what this returns; bench/evaluation_bench.py times it against Fairlearn alone.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

# The figures per group, in the order the API lists them.
METRICS: dict[str, Any] = {
    "count": count,
    "accuracy": accuracy_score,
    "precision": partial(precision_score, zero_division=0),
    "recall": partial(recall_score, zero_division=0),
    "false_positive_rate": partial(false_positive_rate, pos_label=1),
    "false_negative_rate": partial(false_negative_rate, pos_label=1),
    "selection_rate": partial(selection_rate, pos_label=1),
}
MISSING_GROUP = "(missing)"
# A sensitive column with more distinct values than this is an identifier, not a group attribute.
MAX_GROUPS = 100
SMALL_GROUP = 30  # rows: below this a group's rates move by several points with one row


class EvaluationError(Exception):
    """Predictions that cannot be evaluated as asked; the message says why, in the caller's words."""


@dataclass
class Figures:
    """What one evaluation found: the JSON the API serves."""

    overall: dict[str, Any] = field(default_factory=dict)
    by_group: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    equalized_odds_difference: dict[str, float | None] = field(default_factory=dict)
    demographic_parity_difference: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _number(value: Any) -> float | int | None:
    """A figure as JSON holds it: NaN (undefined, e.g. ROC AUC of a group with one class) is None."""
    if isinstance(value, np.integer | int):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- labels
def canonical(value: Any) -> str:
    """One spelling for a label however it was typed: 1, 1.0, "1" and True are the same label."""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            return text
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def positive_values(values: list[Any], positive_label: Any, *, column: str) -> list[Any]:
    """The values (of label and prediction together) that mean "positive"; refuses a third value
    and a positive label that cannot be told."""
    shown = ", ".join(repr(v) for v in values[:5])
    if len(values) > 2:
        raise EvaluationError(
            f"The label and prediction columns hold {len(values)} distinct values ({shown}"
            f"{', …' if len(values) > 5 else ''}); a binary evaluation takes two."
        )
    if positive_label is None:
        if {canonical(v) for v in values} <= {"0", "1"}:
            positive_label = 1
        else:
            raise EvaluationError(
                f"Which label is positive is ambiguous ({shown}): give positive_label, or set the "
                f"dataset's positive label for {column}."
            )
    wanted = canonical(positive_label)
    matches = [v for v in values if canonical(v) == wanted]
    if not matches and len(values) == 2:
        raise EvaluationError(f"The positive label {positive_label!r} is not one of the values ({shown}).")
    return matches


def binary(array: pa.ChunkedArray | pa.Array, positives: list[Any]) -> np.ndarray:
    """1 where the value is a positive one, else 0 (int8, no nulls: the caller dropped them)."""
    if not positives:
        return np.zeros(len(array), dtype=np.int8)
    marked = pc.is_in(array, value_set=pa.array(positives, type=array.type))
    return marked.to_numpy(zero_copy_only=False).astype(np.int8)


def groups_of(array: pa.ChunkedArray | pa.Array) -> pd.Categorical:
    """A sensitive column as groups: its values as text, a missing value as its own group."""
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    filled = pc.fill_null(array, MISSING_GROUP)
    encoded = (filled.combine_chunks() if isinstance(filled, pa.ChunkedArray) else filled).dictionary_encode()
    return pd.Categorical.from_codes(
        encoded.indices.to_numpy(zero_copy_only=False), categories=encoded.dictionary.to_pylist()
    )


# --------------------------------------------------------------------------- figures
def _roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC, or NaN where it is undefined (a group with only one class)."""
    if len(y_true) == 0 or y_true.min() == y_true.max():
        return float("nan")
    return roc_auc_score(y_true, y_score)


def _figures(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None = None) -> tuple:
    """Every figure of one slice, from the metric functions of METRICS (and ROC AUC): one metric for
    MetricFrame, so that it splits the arrays once per group rather than once per figure (its
    split costs far more than sklearn's metrics, bench/evaluation_bench.py)."""
    figures = tuple(fn(y_true, y_pred) for fn in METRICS.values())
    return figures if scores is None else (*figures, _roc_auc(y_true, scores))


def frame(y_true, y_pred, groups, scores: np.ndarray | None = None) -> MetricFrame:
    """Fairlearn's MetricFrame of every figure over the groups of one sensitive column."""
    params = {"figures": {"scores": scores}} if scores is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's "ill-defined" notes: zero_division says what to do
        return MetricFrame(
            metrics={"figures": _figures},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
            sample_params=params,
        )


def _difference(values: list[float]) -> float:
    """Largest minus smallest over the groups, as ``MetricFrame.difference(method="between_groups")``."""
    return float(max(values) - min(values))


def compute(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    sensitive: dict[str, pd.Categorical | np.ndarray],
    scores: np.ndarray | None = None,
) -> Figures:
    """The figures of a binary classifier: ``y_true`` and ``y_pred`` are 0/1, ``scores`` the
    positive class's score (no NaN), ``sensitive`` the groups of each sensitive column."""
    out = Figures()
    if len(y_true) == 0:
        raise EvaluationError("There are no rows to evaluate (every row lacks a label or a prediction).")
    names = [*METRICS, *(["roc_auc"] if scores is not None else [])]
    out.overall = dict(zip(names, map(_number, _figures(y_true, y_pred, scores)), strict=True))
    if scores is not None and out.overall["roc_auc"] is None:
        out.warnings.append("ROC AUC is undefined: the labels hold only one class.")
    for column, groups in sensitive.items():
        by_group = frame(y_true, y_pred, groups, scores).by_group["figures"]
        table = {
            str(g): dict(zip(names, map(_number, figures), strict=True)) for g, figures in by_group.items()
        }
        out.by_group[column] = table
        # Fairlearn's equalized_odds_difference: the larger of the true positive rate's (recall's)
        # and the false positive rate's differences; demographic parity: the selection rate's.
        rates = list(table.values())
        out.equalized_odds_difference[column] = max(
            _difference([r["recall"] for r in rates]), _difference([r["false_positive_rate"] for r in rates])
        )
        out.demographic_parity_difference[column] = _difference([r["selection_rate"] for r in rates])
        out.warnings += group_caveats(column, y_true, groups, table)
    return out


def group_caveats(column: str, y_true: np.ndarray, groups: Any, table: dict[str, dict]) -> list[str]:
    """What a reader must know of a group's figures: a group with no rows, no positive or no
    negative label (its rates are 0 by convention, not measured), or very few rows."""
    positives = pd.Series(y_true).groupby(np.asarray(groups), observed=False).sum()
    notes = []
    for group, figs in table.items():
        n = figs["count"]
        if not n:
            notes.append(f"Group {group!r} of {column} is empty: it has no rows to evaluate.")
            continue
        pos = int(positives.get(group, 0))
        if pos == 0:
            notes.append(
                f"Group {group!r} of {column} has no positive label: its recall and false negative "
                "rate are 0 by convention, not measured."
            )
        elif pos == n:
            notes.append(
                f"Group {group!r} of {column} has no negative label: its false positive rate is 0 by "
                "convention, not measured."
            )
        if n < SMALL_GROUP:
            notes.append(f"Group {group!r} of {column} has only {n} rows: its figures are unstable.")
    return notes
