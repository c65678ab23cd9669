"""What a monitor rule is and how it is judged: checking the rules a person sends, and evaluating one
rule on what a version's profile holds (pure functions over plain data: no queries, no writes).

A rule ``{"metric", "column"?, "group"?, "op", "threshold"}`` fires when the metric ``op`` the
threshold holds. Metrics and what they read (docs/monitoring.md):

==================  ===========================================================  ============  =========
metric              value                                                        default op    threshold
==================  ===========================================================  ============  =========
psi                 PSI of a column against the reference (every column if none)  >            0.2
ks_pvalue           Kolmogorov-Smirnov p-value, numeric columns                   <            0.05
quality_score       share of the suite's expectations met                         <            required
null_fraction       share of nulls in a column (every column if none)             >            required
group_share         a group's share of the rows (a sensitive column; any group)   <            required
pii                 personal data found that the reference did not have           >            0
schema_change       columns added, removed or retyped against the reference       >            0
freshness_hours     hours since the latest version (the periodic sweep)           >            required
==================  ===========================================================  ============  =========

Evaluating gives a :class:`Result`: ``fired`` True or False, or None when the version cannot say
(no reference to compare with, no quality suite, a column it does not have): an alert then stays
as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from profiling.models import Metric

MAX_RULES = 50
# metric -> (default op, default threshold or None when one must be given, ops allowed)
DEFAULTS: dict[str, tuple[str, float | None, tuple[str, ...]]] = {
    Metric.PSI: (">", 0.2, (">", "<")),
    Metric.KS_PVALUE: ("<", 0.05, (">", "<")),
    Metric.QUALITY_SCORE: ("<", None, (">", "<")),
    Metric.NULL_FRACTION: (">", None, (">", "<")),
    Metric.GROUP_SHARE: ("<", None, (">", "<")),
    Metric.PII: (">", 0.0, (">",)),
    Metric.SCHEMA_CHANGE: (">", 0.0, (">",)),
    Metric.FRESHNESS_HOURS: (">", None, (">",)),
}
FRACTIONS = (Metric.KS_PVALUE, Metric.QUALITY_SCORE, Metric.NULL_FRACTION, Metric.GROUP_SHARE)
NO_COLUMN = (Metric.QUALITY_SCORE, Metric.FRESHNESS_HOURS)
# The metrics judged on a version's profile (freshness is judged by the clock).
PROFILE_METRICS = tuple(m for m in DEFAULTS if m != Metric.FRESHNESS_HOURS)
LABELS = {
    Metric.PSI: "PSI",
    Metric.KS_PVALUE: "KS p-value",
    Metric.QUALITY_SCORE: "Quality score",
    Metric.NULL_FRACTION: "Null fraction",
    Metric.GROUP_SHARE: "Group share",
    Metric.PII: "New personal data",
    Metric.SCHEMA_CHANGE: "Schema changes",
    Metric.FRESHNESS_HOURS: "Hours without a new version",
}
RULE_KEYS = ("metric", "column", "group", "op", "threshold")


# ---------------------------------------------------------------------------------------------
# Checking what a person sent


def clean_rules(
    raw: Any, *, columns: Iterable[str], sensitive_columns: Iterable[str]
) -> list[dict[str, Any]]:
    """The rules as stored (each with every key; defaults filled in), or ValidationError whose keys
    name the rule and field (``rules.2.column``). ``columns``: the dataset's columns."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError({"rules": ["A list of rules."]})
    if len(raw) > MAX_RULES:
        raise ValidationError({"rules": [f"At most {MAX_RULES} rules."]})
    known, sensitive = set(columns), set(sensitive_columns or [])
    errors: dict[str, list[str]] = {}
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        try:
            rule = _clean_rule(item, known=known, sensitive=sensitive)
        except ValidationError as exc:
            found = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            for key, messages in found.items():
                errors.setdefault(f"rules.{i}.{key}" if key != "__all__" else f"rules.{i}", []).extend(
                    messages
                )
            continue
        if rule in out:
            errors.setdefault(f"rules.{i}", []).append("The same rule is given twice.")
            continue
        out.append(rule)
    if errors:
        raise ValidationError(errors)
    return out


def _clean_rule(item: Any, *, known: set[str], sensitive: set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValidationError('A rule is an object: {"metric", "column"?, "group"?, "op", "threshold"?}.')
    unknown = sorted(set(item) - set(RULE_KEYS))
    if unknown:
        raise ValidationError({k: ["Not a field of a rule."] for k in unknown})
    metric = item.get("metric")
    if metric not in DEFAULTS:
        raise ValidationError({"metric": [f"Must be one of {', '.join(DEFAULTS)}."]})
    default_op, default_threshold, ops = DEFAULTS[metric]
    op = item.get("op") if item.get("op") is not None else default_op
    if op not in ops:
        raise ValidationError({"op": [f"{metric} takes {' or '.join(repr(o) for o in ops)}."]})
    column = _text(item, "column")
    group = _text(item, "group")
    _check_target(metric, column, group, known=known, sensitive=sensitive)
    threshold = _threshold(metric, item.get("threshold"), default_threshold)
    return {"metric": metric, "column": column, "group": group, "op": op, "threshold": threshold}


def _text(item: dict, key: str) -> str:
    value = item.get(key)
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 1024:
        raise ValidationError({key: ["Text of at most 1024 characters."]})
    return value


def _check_target(metric: str, column: str, group: str, *, known: set[str], sensitive: set[str]) -> None:
    if metric in NO_COLUMN and column:
        raise ValidationError({"column": [f"{metric} is about the whole dataset: give no column."]})
    if group and metric != Metric.GROUP_SHARE:
        raise ValidationError({"group": ["Only group_share takes a group."]})
    if metric == Metric.GROUP_SHARE and not column:
        raise ValidationError({"column": ["group_share needs the sensitive column whose groups it watches."]})
    if column and column not in known:
        hint = " (it has none yet: store a version first)" if not known else ""
        raise ValidationError({"column": [f"'{column}' is not a column of this dataset{hint}."]})
    if metric == Metric.GROUP_SHARE and column not in sensitive:
        raise ValidationError(
            {
                "column": [
                    f"'{column}' is not one of the dataset's sensitive columns, whose groups are counted."
                ]
            }
        )


def _threshold(metric: str, value: Any, default: float | None) -> float:
    if value is None:
        if default is None:
            raise ValidationError({"threshold": [f"{metric} needs a threshold."]})
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({"threshold": ["A number."]})
    value = float(value)
    if metric in FRACTIONS and not 0 <= value <= 1:
        raise ValidationError({"threshold": [f"{metric} is a share: between 0 and 1."]})
    if value < 0:
        raise ValidationError({"threshold": ["Not below 0."]})
    if metric == Metric.FRESHNESS_HOURS and value <= 0:
        raise ValidationError({"threshold": ["A number of hours above 0."]})
    return value


# ---------------------------------------------------------------------------------------------
# Judging one version


@dataclass
class Snapshot:
    """What a version's profile says, and the reference it is compared with."""

    version: int
    columns: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, Any] | None = None
    bias: dict[str, Any] | None = None
    pii: dict[str, list[str]] = field(default_factory=dict)
    drift: dict[str, Any] | None = None  # against the reference (engine's drift object)
    reference: int | None = None
    reference_pii: dict[str, list[str]] | None = None


@dataclass
class Result:
    fired: bool | None
    value: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def holds(op: str, value: float, threshold: float) -> bool:
    return value > threshold if op == ">" else value < threshold


def describe(rule: dict[str, Any]) -> str:
    """``PSI of income > 0.2``: a rule in words."""
    target = ""
    if rule.get("column"):
        target = f" of {rule['column']}" + (f" = {rule['group']}" if rule.get("group") else "")
    return f"{LABELS.get(rule['metric'], rule['metric'])}{target} {rule['op']} {rule['threshold']:g}"


def evaluate(rule: dict[str, Any], snap: Snapshot) -> Result:
    """Judge a rule on a version → Result (``fired`` None: this version cannot say)."""
    metric = rule["metric"]
    if metric in (Metric.PSI, Metric.KS_PVALUE):
        key = "psi" if metric == Metric.PSI else "ks_pvalue"
        if snap.drift is None:
            return Result(None, message="No reference version to compare with.")
        values = {n: c.get(key) for n, c in (snap.drift.get("columns") or {}).items()}
        return _per_column(rule, values, snap)
    if metric == Metric.NULL_FRACTION:
        return _per_column(rule, {c["name"]: c.get("null_fraction") for c in snap.columns}, snap)
    if metric == Metric.GROUP_SHARE:
        return _group_share(rule, snap)
    if metric == Metric.QUALITY_SCORE:
        if not snap.quality or not snap.quality.get("results"):
            return Result(None, message="No quality suite ran on this version.")
        return _single(rule, snap.quality.get("score"), snap, {"success": snap.quality.get("success")})
    if metric == Metric.PII:
        return _new_pii(rule, snap)
    if metric == Metric.SCHEMA_CHANGE:
        if snap.drift is None:
            return Result(None, message="No reference version to compare with.")
        changes = [
            c
            for c in snap.drift.get("schema_changes") or []
            if not rule["column"] or c.get("column") == rule["column"]
        ]
        return _single(rule, float(len(changes)), snap, {"changes": changes})
    return Result(None)


def evaluate_freshness(rule: dict[str, Any], *, hours: float, latest_version: int | None) -> Result:
    value = round(hours, 2)
    fired = holds(rule["op"], value, rule["threshold"])
    where = f"version {latest_version}" if latest_version else "no version"
    return Result(
        fired,
        value,
        {
            "metric": rule["metric"],
            "value": value,
            "op": rule["op"],
            "threshold": rule["threshold"],
            "latest_version": latest_version,
        },
        f"{value:g} hours since {where} ({describe(rule)}).",
    )


def _base(rule: dict[str, Any], value: float | None, snap: Snapshot) -> dict[str, Any]:
    return {
        "metric": rule["metric"],
        "value": value,
        "op": rule["op"],
        "threshold": rule["threshold"],
        "version": snap.version,
        "reference": snap.reference,
    }


def _single(rule: dict[str, Any], value: Any, snap: Snapshot, extra: dict[str, Any]) -> Result:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return Result(None, message="This version has no such figure.")
    fired = holds(rule["op"], value, rule["threshold"])
    against = (
        f" against version {snap.reference}"
        if snap.reference
        and rule["metric"]
        in (
            Metric.SCHEMA_CHANGE,
            Metric.PII,
        )
        else ""
    )
    message = f"{LABELS[rule['metric']]} is {value:g} in version {snap.version}{against} ({describe(rule)})."
    return Result(fired, float(value), {**_base(rule, float(value), snap), **extra}, message)


def _per_column(rule: dict[str, Any], values: dict[str, Any], snap: Snapshot) -> Result:
    """A column metric: the rule's column, or every column (fires when any does; the value is the
    worst one)."""
    numbers = {
        n: float(v)
        for n, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    if rule["column"]:
        numbers = {n: v for n, v in numbers.items() if n == rule["column"]}
    if not numbers:
        return Result(None, message="No column of this version has the figure.")
    op, threshold = rule["op"], rule["threshold"]
    worst_name = (max if op == ">" else min)(numbers, key=lambda n: numbers[n])
    worst = numbers[worst_name]
    firing = {n: round(v, 6) for n, v in sorted(numbers.items()) if holds(op, v, threshold)}
    figures = {**_base(rule, round(worst, 6), snap), "column": worst_name, "columns": firing}
    against = (
        f" against version {snap.reference}"
        if snap.reference
        and rule["metric"]
        in (
            Metric.PSI,
            Metric.KS_PVALUE,
        )
        else ""
    )
    if rule["column"]:
        state = "" if firing else ": within bounds"
        message = (
            f"{LABELS[rule['metric']]} of {worst_name} is {worst:.4g} in version {snap.version}{against} "
            f"({describe(rule)}){state}."
        )
    elif firing:
        names = ", ".join(list(firing)[:5]) + (f" and {len(firing) - 5} more" if len(firing) > 5 else "")
        message = (
            f"{LABELS[rule['metric']]} of {names} in version {snap.version}{against}: "
            f"{worst_name} at {worst:.4g} ({describe(rule)})."
        )
    else:
        message = f"{LABELS[rule['metric']]} within bounds in version {snap.version}{against}."
    return Result(bool(firing), round(worst, 6), figures, message)


def _group_share(rule: dict[str, Any], snap: Snapshot) -> Result:
    attribute = ((snap.bias or {}).get("attributes") or {}).get(rule["column"])
    if attribute is None:
        return Result(None, message=f"No bias figures for {rule['column']} in this version.")
    groups = attribute.get("groups") or {}
    shares = {str(g): (v or {}).get("share") for g, v in groups.items()}
    if rule["group"]:
        # A group that vanished from the data has a share of 0: that is what such a rule watches.
        shares = {rule["group"]: shares.get(rule["group"], 0.0)}
    result = _per_column({**rule, "column": ""}, shares, snap)
    if result.fired is not None:
        result.figures["groups"] = result.figures.pop("columns")
        result.figures["group"] = result.figures.pop("column")
        result.figures["column"] = rule["column"]
        state = "below" if rule["op"] == "<" else "above"
        result.message = (
            f"Share of group {result.figures['group']} of {rule['column']} is {result.value:.4g} in version "
            f"{snap.version} ({describe(rule)})" + ("." if result.fired else f": not {state} the threshold.")
        )
    return result


def _new_pii(rule: dict[str, Any], snap: Snapshot) -> Result:
    before = snap.reference_pii or {}
    new: dict[str, list[str]] = {}
    for column, kinds in sorted((snap.pii or {}).items()):
        if rule["column"] and column != rule["column"]:
            continue
        added = sorted(set(kinds or []) - set(before.get(column) or []))
        if added:
            new[column] = added
    count = float(sum(len(k) for k in new.values()))
    return _single(rule, count, snap, {"new": new})
