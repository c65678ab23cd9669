"""A suite known only after the pass (the default suite, proposed from the version's own profile)
evaluated without reading the file again, where the pass's exact figures decide GX's answer.

The evaluator that watched the pass knows each column's Arrow type, rows, nulls and GX's missing
count (NaN included); the profile knows each column's exact minimum and maximum and, while a
column's value table is exact, every distinct value with its count. That decides:

* not-null: the unexpected cells are the missing ones, and GX lists them as pandas shows a missing
  cell (NaN, NaT or None): exact whatever the count;
* between: the expected values form an interval, so when the column's minimum and maximum are both
  inside it (checked with the very condition the streaming evaluator uses) no value is unexpected;
* in set / not in set: with every distinct value and its count known, the unexpected count is the
  sum of the counts of the unexpected values;
* the table's row count and columns.

Only a zero unexpected count comes with its (empty) list of unexpected values: any other answer
needs the rows' order, and the expectation goes to GX (which reads the file again).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from profiling.native_expectations import (
    COUNT,
    NativeEvaluator,
    Plan,
    evaluate,
    make_plans,
    value_kwargs,
)
from profiling.native_metrics import PARTIAL, ColumnInfo, Unsupported, make_condition

# The profile's column types each Arrow kind is reported as (a JSON Lines date read as text by the
# evaluator is a date for the profile: its figures then say nothing about the text).
PROFILE_TYPES = {
    "int": {"integer"},
    "float": {"float"},
    "string": {"string", "categorical"},
    "bool": {"boolean"},
}


class ProfileFacts:
    """Metric values decided from the pass's exact figures (see the module), or Unsupported."""

    def __init__(self, evaluator: NativeEvaluator, profile) -> None:
        self.evaluator = evaluator
        self.columns = {c.get("name"): c for c in profile.columns}
        self.method = (profile.method or {}).get("columns") or {}

    def metric(self, plan: Plan, name: str, config: Any) -> Any:
        ev = self.evaluator
        if name == "table.row_count":
            return ev.rows
        if name == "table.columns":
            return list(ev.names or [])
        if name == "table.column_count":
            return len(ev.names or [])
        info = ev.column_info(config.metric_domain_kwargs.get("column"))
        if name == "column.non_null_proportion":
            return (info.rows - info.missing) / info.rows if info.rows else 0
        if name == "column_values.nonnull" + COUNT:
            return info.missing
        if name == "column_values.nonnull.unexpected_values":
            return [info.na_value()] * min(PARTIAL, info.missing)
        base = name[: -len(COUNT)] if name.endswith(COUNT) else name[: -len(".unexpected_values")]
        if base == "column_values.null":
            count = info.rows - info.missing
        elif base == "column_values.between":
            count = self._between(info, value_kwargs(config))
        elif base in ("column_values.in_set", "column_values.not_in_set"):
            count = self._in_set(base, info, value_kwargs(config))
        else:
            raise Unsupported(f"{name} is not decided by the profile")
        if name.endswith(COUNT):
            return count
        if count:
            raise Unsupported("which rows are unexpected is not known without reading the file again")
        return []

    def _column(self, info: ColumnInfo) -> dict[str, Any]:
        col = self.columns.get(info.name)
        if col is None or col.get("type") not in PROFILE_TYPES.get(info.kind, ()):
            raise Unsupported("the profile read this column as another type")
        return col

    def _between(self, info: ColumnInfo, kwargs: dict[str, Any]) -> int:
        condition = make_condition("column_values.between", info.kind, kwargs)
        if info.rows == info.missing:
            return 0
        col = self._column(info)
        nans = info.missing - info.nulls
        if int(col.get("non_finite_count") or 0) != nans:
            raise Unsupported("infinite values: the profile's minimum and maximum leave them out")
        lo, hi = col.get("min"), col.get("max")
        if lo is None or hi is None:
            raise Unsupported("no minimum or maximum in the profile (personal data?)")
        if np.count_nonzero(np.asarray(condition(pa.array([lo, hi], type=info.type)))):
            raise Unsupported("the column's range is not inside the bounds")
        return 0

    def _in_set(self, base: str, info: ColumnInfo, kwargs: dict[str, Any]) -> int:
        condition = make_condition(base, info.kind, kwargs)
        present = info.rows - info.missing
        if present == 0:
            return 0
        col = self._column(info)
        top = col.get("top_values") or []
        if not self.method.get(info.name, {}).get("exact") or sum(int(t["count"]) for t in top) != present:
            raise Unsupported("the profile does not list every distinct value")
        values = pa.array([t["value"] for t in top], type=info.type)
        counts = np.array([int(t["count"]) for t in top], dtype=np.int64)
        return int(counts[np.asarray(condition(values), dtype=bool)].sum())


def evaluate_from_profile(
    expectations: list[dict[str, Any]], evaluator: NativeEvaluator, profile
) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """GX's results of the expectations the pass decides → (results by index, declined by index)."""
    plans = make_plans(expectations)
    declined = {p.index: p.declined or "" for p in plans if p.declined}
    if evaluator.names is None or evaluator.failed:
        return {}, {p.index: evaluator.failed or "no batch was read" for p in plans}
    facts = ProfileFacts(evaluator, profile)
    return evaluate(plans, facts.metric, declined, evaluator.infos), declined
