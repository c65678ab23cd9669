"""Differentially private figures of a version's data, computed with OpenDP (docs/privacy.md).

One release is one OpenDP composition (``dp.c.make_composition``) of measurements on the same table
under the symmetric distance (the privacy unit: one row is one person, ``d_in = 1``): the row count,
and per column that a steward bounded (``PrivacyBounds``) a histogram whose last buckets are the
nulls and "anything else", plus, for numeric columns, the sum of the values clamped to the bounds.
Every noise draw is OpenDP's (``then_laplace``: discrete Laplace on counts, Laplace on the sum); the
ε of each measurement and of the whole is what OpenDP's privacy maps say (``map(1)``); each scale
is the one whose map gives the ε share asked (``_scaled``). The only code of ours before the
noise is row-wise (a column picked, cast, binned on the steward's edges): each input row makes at
most one output row, so the stability map ``d_in -> d_in`` of those user transformations is exact.

Everything released is computed afterwards from the noisy outputs alone (post-processing costs no
privacy): null fractions, means (noisy sum over noisy count), quantiles (OpenDP's
``make_quantiles_from_counts`` over the noisy histogram), and every 95 % interval, from OpenDP's
accuracy utilities with the 5 % split between the noisy figures a number is made of (a union
bound, so the interval holds at least 95 % of the time). Minima, maxima and the data's own values
are never released: histogram edges are the steward's, categories the steward's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import opendp.prelude as dp
import pyarrow as pa
import pyarrow.compute as pc

# "honest-but-curious": the row-wise user transformations below (see the module's docstring).
dp.enable_features("contrib", "honest-but-curious")

ALPHA = 0.05  # the intervals are 95 %
QUANTILES = ("0.01", "0.25", "0.5", "0.75", "0.99")
MAX_BINS = 100
MAX_CATEGORIES = 200


@dataclass(frozen=True)
class ColumnSpec:
    """A steward's public knowledge of a column: numeric bounds and bins, or categories."""

    name: str
    lower: float | None = None
    upper: float | None = None
    bins: int = 10
    categories: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.lower is not None and self.upper is not None

    def edges(self) -> list[float]:
        return [float(x) for x in np.linspace(self.lower, self.upper, self.bins + 1)]


@dataclass
class Release:
    """What one composition released: the answer's figures, the ε OpenDP accounts for, the columns."""

    body: dict[str, Any]
    epsilon: float
    columns: list[str]
    omitted: list[dict[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The input side: one table, the symmetric distance, row-wise views of it.
TABLE = dp.user_domain("ArrowTable", lambda t: isinstance(t, pa.Table))
ROWS = dp.symmetric_distance()


def _view(function, atom) -> dp.Transformation:
    """A row-wise view of the table as a vector: each row gives at most one element."""
    return dp.t.make_user_transformation(
        TABLE, ROWS, dp.vector_domain(atom), ROWS, function=function, stability_map=lambda d_in: d_in
    )


def _ones(table: pa.Table) -> np.ndarray:
    return np.zeros(table.num_rows, dtype=np.int64)


def _floats(table: pa.Table, name: str) -> np.ndarray:
    """The column as float64 with NaN for nulls (and for NaN cells, which are treated as nulls)."""
    column = pc.cast(table.column(name), pa.float64())
    return np.array(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _bin_codes(spec: ColumnSpec):
    def codes(table: pa.Table) -> np.ndarray:
        values = _floats(table, spec.name)
        missing = np.isnan(values)
        width = (spec.upper - spec.lower) / spec.bins
        with np.errstate(invalid="ignore"):
            out = np.clip(np.floor((values - spec.lower) / width), 0, spec.bins - 1)
        out[missing] = spec.bins  # the null bucket
        return out.astype(np.int64)

    return codes


def _shifted_values(spec: ColumnSpec):
    """The non-null values minus the lower bound: the sum's sensitivity is then the bounds' width."""

    def values(table: pa.Table) -> np.ndarray:
        v = _floats(table, spec.name)
        return np.ascontiguousarray(v[~np.isnan(v)] - spec.lower)

    return values


def _category_codes(spec: ColumnSpec):
    k = len(spec.categories)

    def codes(table: pa.Table) -> np.ndarray:
        values = pc.cast(table.column(spec.name), pa.string())
        found = pc.index_in(values, value_set=pa.array(spec.categories, pa.string()))
        out = np.array(found.fill_null(k + 1).to_numpy(zero_copy_only=False), dtype=np.int64)
        out[np.array(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = k  # null bucket
        return out

    return codes


# ---------------------------------------------------------------------------------------------
# The measurements, each with the ε share asked of it.
INT = dp.atom_domain(T=dp.i64)


def _scaled(make, sensitivity: float, epsilon: float) -> tuple[dp.Measurement, float]:
    """The measurement whose privacy map gives at most ``epsilon`` for one row: first the textbook
    scale (sensitivity / ε, a hair wider for the float sum's rounding slack, which OpenDP's map
    includes), checked by the map itself; OpenDP's binary search when that is not enough."""
    scale = sensitivity / epsilon * (1 + 1e-6)
    measurement = make(scale)
    if measurement.map(1) <= epsilon:
        return measurement, scale
    scale = dp.binary_search_param(make, d_in=1, d_out=epsilon, T=float)
    return make(scale), scale


def _counts(function, n_codes: int, epsilon: float) -> tuple[dp.Measurement, float]:
    """Noisy counts of codes 0..n_codes-1 (OpenDP adds one bucket for any other code)."""

    def make(scale: float) -> dp.Measurement:
        return (
            _view(function, INT)
            >> dp.t.then_count_by_categories(categories=list(range(n_codes)), null_category=True)
            >> dp.m.then_laplace(scale)
        )

    return _scaled(make, 1.0, epsilon)


def _row_count(epsilon: float) -> tuple[dp.Measurement, float]:
    def make(scale: float) -> dp.Measurement:
        return _view(_ones, INT) >> dp.t.then_count() >> dp.m.then_laplace(scale)

    return _scaled(make, 1.0, epsilon)


def _clamped_sum(spec: ColumnSpec, epsilon: float) -> tuple[dp.Measurement, float]:
    width = float(spec.upper - spec.lower)

    def make(scale: float) -> dp.Measurement:
        return (
            _view(_shifted_values(spec), dp.atom_domain(T=float, nan=False))
            >> dp.t.then_clamp((0.0, width))
            >> dp.t.then_sum()
            >> dp.m.then_laplace(scale)
        )

    return _scaled(make, width, epsilon)


# ---------------------------------------------------------------------------------------------
# Accuracy: OpenDP's utilities, and intervals of figures made of several noisy ones.
def _count_accuracy(scale: float, alpha: float) -> float:
    return float(dp.discrete_laplacian_scale_to_accuracy(scale=scale, alpha=alpha))


def _sum_accuracy(scale: float, alpha: float) -> float:
    return float(dp.laplacian_scale_to_accuracy(scale=scale, alpha=alpha))


def number(value: float, epsilon: float, low: float, high: float) -> dict[str, Any]:
    """A released figure as the API shows it."""
    return {"value": value, "epsilon": epsilon, "ci95": [low, high]}


def _ratio_range(num: tuple[float, float], den: tuple[float, float]) -> tuple[float, float] | None:
    """Every ``a / b`` with a, b in the intervals; None when the denominator may be 0 or less."""
    if den[0] <= 0:
        return None
    corners = [a / b for a in num for b in den]
    return min(corners), max(corners)


def _clip(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


def _quantile_bounds(
    counts: list[float], accuracy: float, edges: list[float], q: float
) -> tuple[float, float]:
    """Where the q-quantile of the clamped values lies when every bin count is within ``accuracy``
    of the noisy one: between the last edge below which surely less than q of the rows lie, and
    the first edge below which surely at least q lie."""
    b = len(counts)
    low, high = edges[0], edges[-1]
    for j in range(1, b):
        below, above = sum(counts[:j]), sum(counts[j:])
        below_hi, below_lo = below + j * accuracy, max(below - j * accuracy, 0.0)
        above_hi, above_lo = above + (b - j) * accuracy, max(above - (b - j) * accuracy, 0.0)
        share_max = below_hi / (below_hi + above_lo) if below_hi + above_lo > 0 else 1.0
        share_min = below_lo / (below_lo + above_hi) if below_lo + above_hi > 0 else 0.0
        if share_max < q:
            low = edges[j]
        if share_min >= q and high == edges[-1]:
            high = edges[j]
    return low, max(low, high)


# ---------------------------------------------------------------------------------------------
# The release.
def _column_type(table: pa.Table, name: str) -> pa.DataType:
    return table.schema.field(name).type


def _usable(table: pa.Table, spec: ColumnSpec) -> str | None:
    """Why ``spec`` cannot be released on this table, or None."""
    if spec.name not in table.column_names:
        return "The column is not in this version."
    kind = _column_type(table, spec.name)
    if spec.numeric and not (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    ):
        return "Bounds are set but the column is not numeric in this version."
    if not spec.numeric and not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
    ):
        return "Categories are set but the column holds neither text, integers nor booleans."
    return None


def compute_release(table: pa.Table, specs: list[ColumnSpec], *, epsilon: float) -> Release:
    """Release the row count and each usable column of ``specs`` at ``epsilon`` in all (split
    evenly between the measurements). Nothing is drawn when no column is usable."""
    omitted, usable = [], []
    for spec in specs:
        reason = _usable(table, spec)
        if reason:
            omitted.append({"column": spec.name, "reason": reason})
        else:
            usable.append(spec)
    shares = 1 + sum(2 if s.numeric else 1 for s in usable)
    each = epsilon / shares
    plan: list[tuple[str, ColumnSpec | None, dp.Measurement, float]] = []
    plan.append(("rows", None, *_row_count(each)))
    for spec in usable:
        if spec.numeric:
            plan.append(("hist", spec, *_counts(_bin_codes(spec), spec.bins + 1, each)))
            plan.append(("sum", spec, *_clamped_sum(spec, each)))
        else:
            plan.append(("hist", spec, *_counts(_category_codes(spec), len(spec.categories) + 1, each)))
    composition = dp.c.make_composition([m for _, _, m, _ in plan])
    spent = float(composition.map(1))
    outputs = composition(table)
    eps = [float(m.map(1)) for _, _, m, _ in plan]

    rows_out, rows_scale, rows_eps = outputs[0], plan[0][3], eps[0]
    body: dict[str, Any] = {"row_count": _row_figure(rows_out, rows_scale, rows_eps), "columns": []}
    rows = (rows_out, rows_scale, rows_eps)
    by_column: dict[str, dict[str, Any]] = {}
    for (kind, spec, _m, scale), out, e in zip(plan[1:], outputs[1:], eps[1:], strict=True):
        by_column.setdefault(spec.name, {"spec": spec})[kind] = (out, scale, e)
    for spec in usable:
        parts = by_column[spec.name]
        figures = (
            _numeric_column(spec, parts, rows) if spec.numeric else _categorical_column(spec, parts, rows)
        )
        body["columns"].append({"name": spec.name, "type": str(_column_type(table, spec.name)), **figures})
    return Release(body=body, epsilon=spent, columns=[s.name for s in usable], omitted=omitted)


def _row_figure(value: int, scale: float, epsilon: float) -> dict[str, Any]:
    acc = _count_accuracy(scale, ALPHA)
    return number(max(int(value), 0), epsilon, max(value - acc, 0), value + acc)


def _null_figures(null_out: int, null_scale: float, null_eps: float, rows: tuple) -> tuple[dict, dict, tuple]:
    """The null count, the null fraction, and the interval of the non-null count (for the mean)."""
    n, n_scale, n_eps = rows
    acc = _count_accuracy(null_scale, ALPHA)
    nulls = number(max(int(null_out), 0), null_eps, max(null_out - acc, 0), null_out + acc)
    a_n, a_null = _count_accuracy(n_scale, ALPHA / 2), _count_accuracy(null_scale, ALPHA / 2)
    span = _ratio_range((max(null_out - a_null, 0), max(null_out + a_null, 0)), (n - a_n, n + a_n))
    value = _clip(null_out / n, 0.0, 1.0) if n > 0 else None
    low, high = (0.0, 1.0) if span is None else (_clip(span[0], 0, 1), _clip(span[1], 0, 1))
    fraction = number(value, n_eps + null_eps, low, high)
    return nulls, fraction, (n - null_out, n_scale, null_scale)


def _categorical_column(spec: ColumnSpec, parts: dict, rows: tuple) -> dict[str, Any]:
    counts, scale, e = parts["hist"]
    k = len(spec.categories)
    acc = _count_accuracy(scale, ALPHA)
    nulls, fraction, _ = _null_figures(counts[k], scale, e, rows)
    shown = [number(max(int(c), 0), e, max(c - acc, 0), c + acc) for c in counts[:k]]
    other = counts[k + 1]
    return {
        "null_count": nulls,
        "null_fraction": fraction,
        "histogram": {
            "bins": list(spec.categories),
            "counts": shown,
            "other": number(max(int(other), 0), e, max(other - acc, 0), other + acc),
        },
    }


def _numeric_column(spec: ColumnSpec, parts: dict, rows: tuple) -> dict[str, Any]:
    counts, h_scale, h_eps = parts["hist"]
    total, s_scale, s_eps = parts["sum"]
    b = spec.bins
    nulls, fraction, (non_null, n_scale, null_scale) = _null_figures(counts[b], h_scale, h_eps, rows)
    acc = _count_accuracy(h_scale, ALPHA)
    edges = spec.edges()
    bins = [max(float(c), 0.0) for c in counts[:b]]
    return {
        "null_count": nulls,
        "null_fraction": fraction,
        "mean": _mean(spec, total, s_scale, non_null, n_scale, null_scale, rows[2] + h_eps + s_eps),
        "quantiles": _quantiles(bins, h_scale, h_eps, edges),
        "histogram": {
            "bins": edges,
            "counts": [number(max(int(c), 0), h_eps, max(c - acc, 0), c + acc) for c in counts[:b]],
        },
    }


def _mean(spec, total, s_scale, non_null, n_scale, null_scale, epsilon) -> dict[str, Any]:
    """Noisy sum over noisy non-null count (rows minus nulls), shifted back by the lower bound."""
    third = ALPHA / 3
    a_s, a_n, a_null = (
        _sum_accuracy(s_scale, third),
        _count_accuracy(n_scale, third),
        _count_accuracy(null_scale, third),
    )
    width = spec.upper - spec.lower
    value = _clip(spec.lower + total / non_null, spec.lower, spec.upper) if non_null > 0 else None
    span = _ratio_range((total - a_s, total + a_s), (non_null - a_n - a_null, non_null + a_n + a_null))
    if span is None:
        low, high = spec.lower, spec.upper
    else:
        low = _clip(spec.lower + _clip(span[0], 0, width), spec.lower, spec.upper)
        high = _clip(spec.lower + _clip(span[1], 0, width), spec.lower, spec.upper)
    if value is None:
        value = (spec.lower + spec.upper) / 2
    return number(value, epsilon, low, high)


def _quantiles(bins: list[float], scale: float, epsilon: float, edges: list[float]) -> dict[str, Any]:
    """OpenDP's quantiles of the noisy histogram; intervals with every bin within its accuracy
    (the 5 % split over the bins)."""
    if sum(bins) <= 0:
        return {q: number((edges[0] + edges[-1]) / 2, epsilon, edges[0], edges[-1]) for q in QUANTILES}
    alphas = [float(q) for q in QUANTILES]
    values = dp.t.make_quantiles_from_counts(edges, alphas=alphas, interpolation="linear", TA=float)(bins)
    acc = _count_accuracy(scale, ALPHA / len(bins))
    out = {}
    for q, value in zip(QUANTILES, values, strict=True):
        low, high = _quantile_bounds(bins, acc, edges, float(q))
        out[q] = number(_clip(float(value), low, high), epsilon, low, high)
    return out
