"""Who may see the sample values in a profile (top values, text minima and maxima, failing values)
and in a quality suite (an expectation's value set, regex or literal: a suite proposed from a profile
lists a column's real values).

A profile of a confidential or restricted dataset holds real cells: patient ids, names, card numbers
that detection missed. Counts, shares, rates and numeric statistics stay readable by every signed-in
user (they are what people search and judge the data by); the values themselves only reach those who
may see the data: its owner, stewards and staff, and whoever another app vouches for. Governance
registers a check here (a live approved access request) without profiling importing governance.
"""

import copy
from collections.abc import Callable
from typing import Any

from catalog.models import Sensitivity
from catalog.permissions import can_change_dataset

ValueViewerCheck = Callable[[Any, Any], bool]
_checks: list[ValueViewerCheck] = []
NUMERIC_TYPES = {"integer", "float", "boolean"}
HIDDEN_NOTE = (
    "Sample values are hidden: this dataset is {sensitivity} and you hold no approved access to it. "
    "Counts, shares and numeric statistics are shown."
)


def register_value_viewer_check(check: ValueViewerCheck) -> None:
    """Add ``check(user, dataset) -> bool``: True lets the user see a protected profile's values."""
    if check not in _checks:
        _checks.append(check)


def may_see_values(user, dataset) -> bool:
    if dataset.sensitivity in (Sensitivity.PUBLIC, Sensitivity.INTERNAL):
        return True
    if can_change_dataset(user, dataset):
        return True
    return any(check(user, dataset) for check in _checks)


# Expectation arguments that name columns or set how a check runs, never the data's values.
STRUCTURAL_KWARGS = frozenset(
    {
        "column", "column_A", "column_B", "column_list", "column_set", "column_index", "type_",
        "type_list", "result_format", "ignore_row_if", "condition_parser", "strftime_format", "mostly",
        "exact_match", "strictly", "strict_min", "strict_max", "parse_strings_as_datetimes",
        "allow_cross_type_comparisons", "catch_exceptions", "include_config", "or_equal",
    }
)  # fmt: skip


def hide_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """An expectation's arguments without the data's values: column names, options and numeric
    bounds stay (statistics, as in the profile); value sets, regexes and other literals go."""
    out = {}
    for key, value in kwargs.items():
        if key in STRUCTURAL_KWARGS or isinstance(value, bool | int | float) or value is None:
            out[key] = value
        else:
            out[key] = [] if isinstance(value, list | tuple) else None
    return out


def _hidden_note(dataset) -> str:
    return HIDDEN_NOTE.format(sensitivity=dataset.sensitivity)


def suite_for_viewer(suite: dict[str, Any], *, user, dataset) -> dict[str, Any]:
    """The suite as ``user`` may see it: every expectation's literal values removed when they may
    not see the data's cells (its types, columns and numeric bounds stay)."""
    if may_see_values(user, dataset):
        return suite
    shown = copy.deepcopy(suite)
    for exp in shown.get("expectations") or []:
        exp["kwargs"] = hide_kwargs(exp.get("kwargs") or {})
    shown["values_hidden"] = _hidden_note(dataset)
    return shown


def _hide_observed(observed: Any) -> Any:
    """Counts and numbers stay; anything that can be a cell (text, lists of values) goes."""
    if isinstance(observed, dict):
        return {k: _hide_observed(v) for k, v in observed.items() if k != "details"}
    if isinstance(observed, bool | int | float) or observed is None:
        return observed
    return [] if isinstance(observed, list) else None


def profile_for_viewer(profile: dict[str, Any] | None, *, user, dataset) -> dict[str, Any] | None:
    """The profile as ``user`` may see it: values removed when they may not see the data's cells."""
    if profile is None or may_see_values(user, dataset):
        return profile
    shown = copy.deepcopy(profile)
    for col in shown.get("columns") or []:
        col["top_values"] = []
        if col.get("type") not in NUMERIC_TYPES:
            col["min"] = col["max"] = None
    for result in (shown.get("quality") or {}).get("results") or []:
        result["observed"] = _hide_observed(result.get("observed"))
        if isinstance(result.get("kwargs"), dict):
            result["kwargs"] = hide_kwargs(result["kwargs"])
    shown["values_hidden"] = _hidden_note(dataset)
    return shown
