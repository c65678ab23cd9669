"""Who may see the values of a protected dataset in its profile and quality suite, and what everyone
else sees: an allow-list.

A profile of a confidential or restricted dataset holds real cells: text minima and maxima, top
values, histogram edges and quantiles of dates, the groups of each sensitive column, the failing
values GX reports, exception messages that quote a row. Those reach only the people who may see the
data: its owner, stewards and staff, and whoever another app vouches for (governance registers a
check here, a live approved access request, without profiling importing governance).

Everyone else gets a copy made by ``profile_without_values``: it copies only what ``PROFILE`` below
allows, figure by figure; any key not named there (a figure added to the engine tomorrow, a key of an
older profile) is left out. The API, the web page and panel, the progress partial and the model card
all take their profile from here. docs/governance.md lists what is shown and why.

Of a confidential or restricted dataset, such a viewer gets no exact statistic at all (a row count, a
mean, a quality score or a parity figure each tell something exact about the people in the data):
``STATE_ONLY`` keeps the job's state and nothing else, and the figures they may see come from the
differentially private release (profiling.privacy_budget, docs/privacy.md), which only the profile's
GET answer and page draw; every other surface points to it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from catalog.models import Sensitivity
from catalog.permissions import can_change_dataset

ValueViewerCheck = Callable[[Any, Any], bool]
_checks: list[ValueViewerCheck] = []
HIDDEN_NOTE = (
    "Sample values are hidden: this dataset is {sensitivity} and you hold no approved access to it. "
    "Counts, shares, rates, quality and drift figures are shown, and the statistics of numeric columns "
    "that are neither sensitive, the label nor personal data."
)
DP_POINTER_NOTE = (
    "No exact statistic is shown: this dataset is {sensitivity} and you hold no approved access. Its "
    "figures are released with differential privacy, each with its accuracy, on the profile page and "
    "at GET /api/v1/datasets/{dataset}/versions/{{n}}/profile/ (docs/privacy.md)."
)
HIDDEN_ERROR = (
    "Profiling failed. The reason may quote the data: it is shown to the dataset's owner, its stewards "
    "and those with approved access."
)
HIDDEN_CHECK_ERROR = (
    "The expectation could not be evaluated (the reason is shown to those who may see the data)."
)


def register_value_viewer_check(check: ValueViewerCheck) -> None:
    """Add ``check(user, dataset) -> bool``: True lets the user see a protected profile's values."""
    if check not in _checks:
        _checks.append(check)


# Sensitivities whose figures are values (docs/privacy.md): shown to those who may change the dataset
# and to those a registered check lets through, to others only as a differentially private release.
PROTECTED = (Sensitivity.CONFIDENTIAL, Sensitivity.RESTRICTED)


def may_see_values(user, dataset) -> bool:
    if dataset.sensitivity not in PROTECTED:
        return True
    if can_change_dataset(user, dataset):
        return True
    return any(check(user, dataset) for check in _checks)


# ---------------------------------------------------------------------------------------------
# The building blocks of the allow-list. A spec is one of:
#   {key: spec}   an object: only the keys named are copied (those the value has);
#   Each(spec)    a list, each item copied by spec;
#   ByName(spec)  an object keyed by column names (or by our own words), each value copied by spec;
#   Empty(value)  a key the API promises whose content is hidden: always present, always ``value``;
#   Per(pick)     the spec that ``pick(value, context)`` chooses (a column's own, by its kind);
#   a function    a leaf: ``f(value)`` returns what may be shown of it.


@dataclass(frozen=True)
class Each:
    item: Any


@dataclass(frozen=True)
class ByName:
    item: Any


@dataclass(frozen=True)
class Empty:
    value: Any


@dataclass(frozen=True)
class Per:
    pick: Callable[[Any, _Context], Any]


@dataclass(frozen=True)
class _Context:
    protected: frozenset[str]  # columns whose numbers are values too: sensitive, label, personal data


def _number(value: Any) -> int | float | None:
    """A count, share, rate, score or statistic: a number, or nothing (text here would be a value)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _label(value: Any) -> str | None:
    """Text the product writes or people name, never read from the data's cells: column names,
    types, statuses, PII kinds, expectation types, the profiler's own descriptions."""
    return value if isinstance(value, str) else None


def _published(value: Any) -> Any:
    """The dataset's positive label: its stewards' setting, shown on the dataset's page to all."""
    return value if value is None or isinstance(value, str | int | float | bool) else None


def _error_note(value: Any) -> str | None:
    """An error message may quote the row that broke the reader: only whether there is one."""
    return None if value is None else HIDDEN_ERROR


# The warnings the engine writes with nothing but column names, kinds and counts in them. Anything
# else (a group named, a reader's exception quoting a row, a warning added tomorrow) is left out.
SAFE_WARNINGS = tuple(
    re.compile(pattern)
    for pattern in (
        r"The file holds no rows\.",
        r"Sensitive column\(s\) not in the file: .+\.",
        r"The label column .+ is not in the file\.",
        r"Column .+ is empty: every value is null\.",
        r"Column .+ holds nested values \(.+\); only its nulls are profiled\.",
        r"Column .+ holds \d+ NaN or infinite values, left out of its statistics\.",
        r"Column .+ mixes numbers and text \(mostly numbers, a few text values\), so it is profiled as text\.",
        r"Column .+ mixes numbers and text \(\d+% of the sampled values are numbers\)\.",
        r"Column .+: some statistics exceed the range of a 64-bit float and are left empty\.",
        r"Personal data found: .+\.",
        r"No label column is set, so positive rates and demographic parity cannot be computed; only "
        r"representation is reported\.",
        r"No positive label is set for label column .+, so positive rates and demographic parity cannot be "
        r"computed; only representation and missing labels are reported\.",
        r"Sensitive column .+ has more than \d+ distinct values; it is not treated as a group attribute "
        r"\(is it an identifier\?\)\.",
        r"\d+ rows have no value for .+; they are listed as the group '\(missing\)' and left out of "
        r"demographic parity\.",
        r"Column .+ is a proxy for .+ \(Cramér's V [0-9.]+\): a model can learn the sensitive attribute from it\.",
        r"The header repeats column names; renamed .+\.",
        r"\d+ ragged row\(s\) were skipped \(e\.g\. expected \d+ fields, got \d+\); the figures leave them out\.",
    )
)


def _safe_warnings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [w for w in value if isinstance(w, str) and any(p.fullmatch(w) for p in SAFE_WARNINGS)]


# GX's counts of a column's checked, missing and failing cells.
OBSERVED_COUNTS = (
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)


def _observed_counts(value: Any) -> Any:
    """What GX observed, as counts only: failing values, observed minima and lists are left out."""
    if not isinstance(value, dict):
        return None
    if "error" in value:
        return {"error": HIDDEN_CHECK_ERROR}
    out = {k: _number(value[k]) for k in OBSERVED_COUNTS if k in value}
    if "partial_unexpected_list" in value:
        out["partial_unexpected_list"] = []
    return out


def _observed_figures(value: Any) -> Any:
    """For a column whose numbers are shown: also an observed number (a mean, a minimum)."""
    return _number(value) if not isinstance(value, dict) else _observed_counts(value)


# Expectation arguments that name columns or set how a check runs, never the data's values.
STRUCTURAL_KWARGS = frozenset(
    {
        "column", "column_A", "column_B", "column_list", "column_set", "column_index", "type_",
        "type_list", "result_format", "ignore_row_if", "condition_parser", "strftime_format", "mostly",
        "exact_match", "strictly", "strict_min", "strict_max", "parse_strings_as_datetimes",
        "allow_cross_type_comparisons", "catch_exceptions", "include_config", "or_equal",
    }
)  # fmt: skip


def hide_kwargs(kwargs: dict[str, Any], *, numbers: bool = True) -> dict[str, Any]:
    """An expectation's arguments without the data's values: column names and options stay, and
    numeric bounds unless ``numbers`` is False (a protected column's bounds are its values); value
    sets, regexes and other literals go."""
    out = {}
    for key, value in kwargs.items():
        if key in STRUCTURAL_KWARGS or value is None or (numbers and _number(value) is not None):
            out[key] = value
        else:
            out[key] = [] if isinstance(value, list | tuple) else None
    return out


def _kwargs_without_values(value: Any) -> dict[str, Any]:
    return hide_kwargs(value, numbers=False) if isinstance(value, dict) else {}


def _kwargs_with_bounds(value: Any) -> dict[str, Any]:
    return hide_kwargs(value) if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------------------------
# The allow-list: what a viewer without value clearance sees of a profile.

QUANTILE_KEYS = ("0.01", "0.25", "0.5", "0.75", "0.99")
NUMERIC_TYPES = ("integer", "float")

# A column in API.md's order. Cells and order statistics are shown empty: a minimum is a cell, a date
# histogram's first and last edges are its minimum and maximum, top values are the commonest cells.
COLUMN = {
    "name": _label,
    "type": _label,
    "null_count": _number,
    "null_fraction": _number,
    "distinct_count": _number,
    "min": Empty(None),
    "max": Empty(None),
    "mean": _number,  # of many rows, no one cell (of a boolean column: the share of true)
    "std": _number,
    "quantiles": Empty(None),
    "histogram": {"bins": Empty([]), "counts": Each(_number)},  # the shape stays, the edges go
    "top_values": Empty([]),
    "pii": Each(_label),  # the kinds found, never the matching cells
    "non_finite_count": _number,
}

# A numeric column that is neither sensitive, the label nor personal data: its statistics are shown
# (they are how people judge such data). Top values stay hidden: the most frequent cells are ids.
OPEN_NUMERIC_COLUMN = {
    **COLUMN,
    "min": _number,
    "max": _number,
    "quantiles": {q: _number for q in QUANTILE_KEYS},
    "histogram": {"bins": Each(_number), "counts": Each(_number)},
}


# A sensitive column, the label or personal data: its numbers are values too. A mean of a few rows
# (or of one) is a cell; the counts stay.
PROTECTED_COLUMN = {**COLUMN, "mean": Empty(None), "std": Empty(None)}


def _column_spec(column: Any, context: _Context) -> dict:
    if not isinstance(column, dict):
        return COLUMN
    if column.get("name") in context.protected:
        return PROTECTED_COLUMN
    return OPEN_NUMERIC_COLUMN if column.get("type") in NUMERIC_TYPES else COLUMN


QUALITY_RESULT = {
    "expectation": _label,
    "column": _label,
    "kwargs": _kwargs_without_values,
    "success": _flag,
    "observed": _observed_counts,
    "sampled": _flag,
}
QUALITY_RESULT_OF_OPEN_COLUMN = {
    **QUALITY_RESULT,
    "kwargs": _kwargs_with_bounds,
    "observed": _observed_figures,
}


def _quality_result_spec(result: Any, context: _Context) -> dict:
    column = result.get("column") if isinstance(result, dict) else None
    return QUALITY_RESULT if column in context.protected else QUALITY_RESULT_OF_OPEN_COLUMN


QUALITY = {"success": _flag, "score": _number, "results": Each(Per(_quality_result_spec))}

BIAS = {
    "label_column": _label,
    "positive_label": _published,
    "attributes": ByName(
        {
            "groups": Empty({}),  # each group is a value of the sensitive column
            "demographic_parity_difference": _number,
            "demographic_parity_ratio": _number,
        }
    ),
    "warnings": _safe_warnings,
    "underrepresented": Each({"attribute": _label, "share": _number}),  # without the group
    "proxies": Each(
        {"column": _label, "sensitive_column": _label, "cramers_v": _number, "mutual_information": _number}
    ),
}

DRIFT = {
    "previous_version": _number,
    "columns": ByName({"psi": _number, "ks_pvalue": _number, "drifted": _flag}),
    "schema_changes": Each({"change": _label, "column": _label, "before": _label, "after": _label}),
}

METHOD = {
    "reader": _label,
    "format": _label,
    "compression": _label,
    "encoding": _label,
    "pass_seconds": _number,
    "seconds": _number,
    "exact_distinct_limit": _number,
    "sample_rows": _number,
    "sample_size_limit": _number,
    "skipped_rows": _number,
    "read_types": ByName(_label),
    # Not "datetime_quantiles" (dates of the data), "note" (may quote a reader's exception).
    "columns": ByName({"exact": _flag, "quantiles": _label, "sample_rows": _number, "redacted": _label}),
    "pii_rates": ByName(ByName(_number)),
    "proxy_associations": ByName(ByName(_number)),
    "statistics": ByName(_label),
    # Not "restarts": their reasons may quote a reader's exception.
    "quality": {
        "engine": _label,
        "score": _label,
        "mode": _label,
        "batches": _number,
        "rows": _number,
        "sampled_expectations": Each(_label),
        "sample_rows": _number,
        "sample": _label,
    },
}

PROFILE = {
    "status": _label,
    "progress": _number,
    "error": _error_note,
    "started_at": _label,
    "finished_at": _label,
    "row_count": _number,
    "columns": Each(Per(_column_spec)),
    "quality": QUALITY,
    "bias": BIAS,
    "drift": DRIFT,
    "attempts": _number,
    "warnings": _safe_warnings,
    "governance_warnings": Each({"code": _label, "column": _label, "kinds": Each(_label), "message": _label}),
    "method": METHOD,
}


# A confidential or restricted dataset, seen without clearance: the job's state, and the keys the API
# promises present but empty. Its figures come only from its differentially private release.
STATE_ONLY = {
    "status": _label,
    "progress": _number,
    "error": _error_note,
    "started_at": _label,
    "finished_at": _label,
    "row_count": Empty(None),
    "columns": Empty([]),
    "quality": Empty(None),
    "bias": Empty(None),
    "drift": Empty(None),
    "attempts": _number,
    "warnings": Empty([]),
    "governance_warnings": Empty([]),
    "method": Empty({}),
}


def is_protected(dataset) -> bool:
    """A dataset whose figures reach a viewer without clearance only as a differentially private
    release (docs/privacy.md)."""
    return dataset is not None and dataset.sensitivity in PROTECTED


def _copy_allowed(value: Any, spec: Any, context: _Context) -> Any:
    """What ``spec`` allows of ``value``, as a new object (nothing of ``value`` is shared)."""
    if isinstance(spec, Empty):
        return copy.deepcopy(spec.value)
    if isinstance(spec, Per):
        return _copy_allowed(value, spec.pick(value, context), context)
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return None
        return {
            key: _copy_allowed(value.get(key), sub, context)
            for key, sub in spec.items()
            if key in value or isinstance(sub, Empty)
        }
    if isinstance(spec, Each):
        return [_copy_allowed(item, spec.item, context) for item in value] if isinstance(value, list) else []
    if isinstance(spec, ByName):
        if not isinstance(value, dict):
            return {}
        return {
            key: _copy_allowed(item, spec.item, context)
            for key, item in value.items()
            if isinstance(key, str)
        }
    return spec(value)


def _protected_columns(profile: dict[str, Any], dataset=None) -> frozenset[str]:
    """Columns whose numbers are values too: the sensitive ones and the label (of the dataset now and
    of the profile then), and those where personal data was found."""
    bias = profile.get("bias") if isinstance(profile.get("bias"), dict) else {}
    names = set(bias.get("attributes") or {}) | {bias.get("label_column")}
    names |= {c.get("name") for c in profile.get("columns") or [] if isinstance(c, dict) and c.get("pii")}
    if dataset is not None:
        names |= set(dataset.sensitive_columns or []) | {dataset.label_column}
    return frozenset(n for n in names if isinstance(n, str) and n)


def profile_without_values(profile: dict[str, Any] | None, *, dataset=None) -> dict[str, Any] | None:
    """The profile as anyone may see it: only what ``PROFILE`` allows (see the module's docstring)."""
    if profile is None:
        return None
    spec = STATE_ONLY if is_protected(dataset) else PROFILE
    return _copy_allowed(profile, spec, _Context(protected=_protected_columns(profile, dataset)))


def _hidden_note(dataset) -> str:
    return HIDDEN_NOTE.format(sensitivity=dataset.sensitivity)


def _profile_note(dataset) -> str:
    if is_protected(dataset):
        return DP_POINTER_NOTE.format(sensitivity=dataset.sensitivity, dataset=dataset.pk)
    return _hidden_note(dataset)


def profile_for_viewer(profile: dict[str, Any] | None, *, user, dataset) -> dict[str, Any] | None:
    """The profile as ``user`` may see it, with ``values_hidden``: null when they see everything,
    else a note saying why the values are left out."""
    if profile is None:
        return None
    if may_see_values(user, dataset):
        return {**profile, "values_hidden": None}
    return {**profile_without_values(profile, dataset=dataset), "values_hidden": _profile_note(dataset)}


def quality_history_for_viewer(rows: list[dict[str, Any]], *, user, dataset) -> list[dict[str, Any]]:
    """The quality history as ``user`` may see it: none of a protected dataset without clearance (each
    score is an exact statistic of the data; docs/privacy.md)."""
    return rows if may_see_values(user, dataset) else []


def _protected_of_dataset(dataset) -> frozenset[str]:
    names = set(dataset.sensitive_columns or []) | {dataset.label_column}
    names |= set(dataset.columns.filter(is_pii=True).values_list("name", flat=True))
    return frozenset(n for n in names if isinstance(n, str) and n)


def suite_for_viewer(suite: dict[str, Any], *, user, dataset) -> dict[str, Any]:
    """The suite as ``user`` may see it, with ``values_hidden`` (null when nothing was removed):
    every expectation's literal values removed when they may not see the data's cells (its types,
    columns and the numeric bounds of columns that are not protected stay)."""
    if may_see_values(user, dataset):
        return {**suite, "values_hidden": None}
    shown = copy.deepcopy(suite)
    protected = _protected_of_dataset(dataset)
    for exp in shown.get("expectations") or []:
        kwargs = exp.get("kwargs") or {}
        exp["kwargs"] = hide_kwargs(kwargs, numbers=kwargs.get("column") not in protected)
    shown["values_hidden"] = _hidden_note(dataset)
    return shown
