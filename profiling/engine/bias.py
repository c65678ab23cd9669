"""Bias indicators: per group of each sensitive column, its size, share, label positive rate and
missing-label fraction; demographic parity as fairlearn defines it; under-represented groups; and
proxy columns (other columns strongly associated with a sensitive one).

Group counts are exact: each batch is grouped by pyarrow (group value x positive label x label
missing), and the small per-group table is merged into a dict. Rows whose sensitive value is null
form the group "(missing)". Proxies are measured on the uniform row sample (bias-corrected
Cramér's V), see docs/profiling.md.
"""

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MISSING = "(missing)"
PROXY_MAX_CATEGORIES = 50  # text columns with more distinct values in the sample are not compared
PROXY_NUMERIC_BINS = 10  # numbers and dates are cut at their sample deciles


def positive_mask(label: pa.Array, positive_label: Any) -> pa.Array:
    """Whether each label equals ``positive_label``: numerically when both are numbers, as text
    otherwise (label 1 and positive label "1" match). Null labels give null."""
    t = label.type
    if pa.types.is_dictionary(t):
        label = label.cast(t.value_type)
        t = label.type
    if pa.types.is_boolean(t):
        text = str(positive_label).strip().lower()
        if text in ("true", "1", "yes"):
            return label
        if text in ("false", "0", "no"):
            return pc.invert(label)
        return pc.equal(label.cast(pa.string()), str(positive_label))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        try:
            number = float(positive_label)
        except (TypeError, ValueError):
            return pc.equal(label.cast(pa.string()), str(positive_label))
        return pc.equal(label.cast(pa.float64()), number)
    if isinstance(positive_label, bool):
        return pc.is_in(
            pc.utf8_lower(label.cast(pa.string())), pa.array(["true" if positive_label else "false"])
        )
    if isinstance(positive_label, float) and positive_label.is_integer():
        positive_label = int(positive_label)
    return pc.equal(label.cast(pa.string()), str(positive_label))


def group_keys(col: pa.Array) -> pa.Array:
    """Group names as text, nulls as "(missing)"."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not pa.types.is_string(col.type):
        try:
            col = col.cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            col = pa.array([None if v is None else str(v) for v in col.to_pylist()], type=pa.string())
    return col.fill_null(MISSING)


class BiasAccumulator:
    """Exact per-group counts for each sensitive column over the pass."""

    def __init__(self, sensitive: list[str], label: str | None, positive_label: Any, max_groups: int):
        self.sensitive = sensitive
        self.label = label
        self.positive_label = positive_label
        self.max_groups = max_groups
        # attribute -> group -> [rows, positives, labelled]
        self.groups: dict[str, dict[str, list[int]]] = {s: {} for s in sensitive}
        self.too_many: set[str] = set()
        self.has_rates = label is not None and positive_label is not None

    def update(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        if n == 0:
            return
        if self.label is not None:
            label = batch.column(self.label)
            labelled = pc.is_valid(label)
            positive = (
                pc.fill_null(positive_mask(label, self.positive_label), False)
                if self.positive_label is not None
                else pa.array(np.zeros(n, dtype=bool))
            )
        else:
            labelled = pa.array(np.zeros(n, dtype=bool))
            positive = labelled
        pos = positive.to_numpy(zero_copy_only=False).astype(np.float64)
        lab = labelled.to_numpy(zero_copy_only=False).astype(np.float64)
        for attr in self.sensitive:
            if attr in self.too_many:
                continue
            # Group by dictionary codes and numpy bincounts: cheaper than a hash group-by per batch.
            encoded = pc.dictionary_encode(group_keys(batch.column(attr)))
            if isinstance(encoded, pa.ChunkedArray):
                encoded = encoded.combine_chunks()
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            size = len(encoded.dictionary)
            counts = np.bincount(codes, minlength=size)
            positives = np.bincount(codes, weights=pos, minlength=size)
            labels = np.bincount(codes, weights=lab, minlength=size)
            groups = self.groups[attr]
            for g, c, p, lab_count in zip(
                encoded.dictionary.to_pylist(),
                counts.tolist(),
                positives.tolist(),
                labels.tolist(),
                strict=True,
            ):
                cell = groups.setdefault(g, [0, 0, 0])
                cell[0] += int(c)
                cell[1] += int(p)
                cell[2] += int(lab_count)
            if len(groups) > self.max_groups:
                self.too_many.add(attr)

    def merge(self, other: "BiasAccumulator") -> None:
        """Add another part's group counts (same columns and label): exact, as in one pass. A
        column past max_groups in either part (or in both together) is no group attribute."""
        if other.sensitive != self.sensitive or other.label != self.label:
            raise ValueError("bias counts of different columns cannot be merged")
        self.too_many |= other.too_many
        for attr in self.sensitive:
            if attr in self.too_many:
                self.groups[attr] = {}
                continue
            groups = self.groups[attr]
            for g, (count, positives, labelled) in other.groups[attr].items():
                cell = groups.setdefault(g, [0, 0, 0])
                cell[0] += count
                cell[1] += positives
                cell[2] += labelled
            if len(groups) > self.max_groups:
                self.too_many.add(attr)

    def result(self, *, row_count: int, representation_threshold: float) -> dict:
        warnings: list[str] = []
        if self.label is None:
            warnings.append(
                "No label column is set, so positive rates and demographic parity cannot be computed; "
                "only representation is reported."
            )
        elif self.positive_label is None:
            warnings.append(
                f"No positive label is set for label column {self.label}, so positive rates and "
                "demographic parity cannot be computed; only representation and missing labels are reported."
            )
        attributes: dict[str, Any] = {}
        under: list[dict] = []
        for attr in self.sensitive:
            if attr in self.too_many:
                warnings.append(
                    f"Sensitive column {attr} has more than {self.max_groups} distinct values; it is not "
                    "treated as a group attribute (is it an identifier?)."
                )
                attributes[attr] = {
                    "groups": {},
                    "demographic_parity_difference": None,
                    "demographic_parity_ratio": None,
                }
                continue
            groups = {}
            rates = []
            # Largest first, ties by name: the order cannot depend on which rows came first.
            for g, (count, positives, labelled) in sorted(
                self.groups[attr].items(), key=lambda kv: (-kv[1][0], kv[0])
            ):
                share = count / row_count if row_count else None
                rate = positives / labelled if (self.has_rates and labelled) else None
                missing = ((count - labelled) / count) if (self.label is not None and count) else None
                groups[g] = {
                    "count": count,
                    "share": share,
                    "positive_rate": rate,
                    "missing_fraction": missing,
                }
                # Rows without a sensitive value are shown as a group but kept out of parity:
                # fairlearn refuses missing sensitive values, and a few unknown rows must not
                # decide how unfair the whole dataset looks.
                if rate is not None and g != MISSING:
                    rates.append(rate)
                if share is not None and share < representation_threshold:
                    under.append({"attribute": attr, "group": g, "share": share})
            dpd = dpr = None
            if rates:
                hi, lo = max(rates), min(rates)
                dpd = hi - lo
                dpr = (lo / hi) if hi > 0 else None
            if self.has_rates and rates and max(rates) == 0:
                warnings.append(
                    f"The positive label {self.positive_label!r} never occurs in {self.label}; check it."
                )
            if MISSING in groups:
                warnings.append(
                    f"{groups[MISSING]['count']} rows have no value for {attr}; they are listed as the group "
                    f"{MISSING!r} and left out of demographic parity."
                )
            attributes[attr] = {
                "groups": groups,
                "demographic_parity_difference": dpd,
                "demographic_parity_ratio": dpr,
            }
        for u in under:
            warnings.append(
                f"Group {u['group']!r} of {u['attribute']} is under-represented: {u['share']:.1%} of the rows "
                f"(threshold {representation_threshold:.0%})."
            )
        return {
            "label_column": self.label,
            "positive_label": self.positive_label,
            "attributes": attributes,
            "warnings": list(dict.fromkeys(warnings)),
            "underrepresented": under,
            "proxies": [],
        }


# ---------------------------------------------------------------------------------------------
# Proxy columns


def _codes(col: pa.Array, family: str) -> np.ndarray | None:
    """Category codes of a sample column for a contingency table, or None when it cannot be one."""
    if family in ("integer", "float", "datetime"):
        if family == "datetime":
            # date32 counts days in 32 bits and has no direct cast to int64.
            col = col.cast(pa.int32()) if pa.types.is_date32(col.type) else col.cast(pa.int64())
        values = col.cast(pa.float64())
        arr = values.to_numpy(zero_copy_only=False)
        arr = np.where(np.isfinite(arr), arr, np.nan)
        finite = arr[~np.isnan(arr)]
        if len(np.unique(finite)) <= PROXY_MAX_CATEGORIES:
            _, codes = np.unique(np.nan_to_num(arr, nan=np.inf), return_inverse=True)
            return codes
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, PROXY_NUMERIC_BINS + 1)[1:-1]))
        codes = np.digitize(arr, edges)
        codes[np.isnan(arr)] = len(edges) + 1  # missing values are a category of their own
        return codes
    if family in ("string", "boolean"):
        keys = group_keys(col).to_numpy(zero_copy_only=False)
        uniq, codes = np.unique(keys.astype(str), return_inverse=True)
        if len(uniq) > PROXY_MAX_CATEGORIES:
            return None
        return codes
    return None


def cramers_v(x: np.ndarray, y: np.ndarray) -> float | None:
    """Bias-corrected Cramér's V (Bergsma 2013) of two code arrays; None when undefined."""
    n = len(x)
    if n < 2:
        return None
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    r, k = xi.max() + 1, yi.max() + 1
    if r < 2 or k < 2:
        return None
    table = np.bincount(xi * k + yi, minlength=r * k).reshape(r, k).astype(np.float64)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = chi2 / n
    phi2corr = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    rcorr = r - (r - 1) ** 2 / (n - 1)
    kcorr = k - (k - 1) ** 2 / (n - 1)
    denom = min(kcorr - 1, rcorr - 1)
    if denom <= 0:
        return None
    return math.sqrt(phi2corr / denom)


def normalized_mutual_information(x: np.ndarray, y: np.ndarray) -> float | None:
    """Mutual information of two code arrays divided by the smaller of their entropies (0..1: 1 when
    one column determines the other); None when either is constant."""
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    r, k = xi.max() + 1, yi.max() + 1
    if r < 2 or k < 2:
        return None
    p = np.bincount(xi * k + yi, minlength=r * k).reshape(r, k) / len(x)
    px, py = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(px, py)[nz])).sum())
    hx = float(-(px[px > 0] * np.log(px[px > 0])).sum())
    hy = float(-(py[py > 0] * np.log(py[py > 0])).sum())
    return max(0.0, min(1.0, mi / min(hx, hy)))


def find_proxies(
    sample: pa.Table | None,
    families: dict[str, str],
    sensitive: list[str],
    exclude: set[str],
    threshold: float,
) -> tuple[list[dict], dict]:
    """Columns whose association with a sensitive column (Cramér's V on the sample) reaches the threshold.

    Returns (proxies, every measured association for the method record).
    """
    if sample is None or sample.num_rows < 10:
        return [], {}
    codes: dict[str, np.ndarray | None] = {}
    for name in sample.column_names:
        col = sample.column(name).combine_chunks()
        codes[name] = _codes(col, families.get(name, "nested"))
    proxies: list[dict] = []
    measured: dict[str, dict[str, float]] = {}
    for s in sensitive:
        if codes.get(s) is None:
            continue
        measured[s] = {}
        for name, c in codes.items():
            if name == s or name in exclude or c is None:
                continue
            v = cramers_v(codes[s], c)
            if v is None:
                continue
            measured[s][name] = round(v, 4)
            if v >= threshold:
                nmi = normalized_mutual_information(codes[s], c)
                proxies.append(
                    {
                        "column": name,
                        "sensitive_column": s,
                        "cramers_v": round(v, 4),
                        # A second reading of the same link, in information terms.
                        "mutual_information": None if nmi is None else round(nmi, 4),
                    }
                )
    proxies.sort(key=lambda p: -p["cramers_v"])
    return proxies, measured
