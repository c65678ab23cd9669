"""Drift between two versions of a dataset, from the drift states their profiles saved.

- Numbers and dates: PSI over shared bins, the deciles of the previous version (from its KLL
  sketch), plus a bin for nulls; the two-sample Kolmogorov-Smirnov p-value on the values sampled
  uniformly from each version (at most ``drift_sample_size`` each).
- Everything else: PSI over the categories (the union of both versions' most frequent values, an
  "other" bin for the rest, and a bin for nulls). No KS test.
- Schema: columns added, removed, or retyped (integer/float/boolean/datetime/text; text and
  categorical are the same family, a change between them is cardinality, not type).

A column has drifted when PSI >= psi_threshold (0.2 by default), or when the KS p-value is below
ks_pvalue_threshold (0.05 by default), or when it was retyped so that its values cannot be compared
(integer <-> float is compared as numbers: a widening with the same values is not drift).
"""

import base64
import hashlib
import math
from typing import Any

import datasketches as ds
import numpy as np
from scipy import stats

STATE_VERSION = 1
EPS = 1e-4  # floor of a bin's share, so that an empty bin does not make PSI infinite
OTHER = "\x00other"
NULLS = "\x00null"


def _family(t: str) -> str:
    return "text" if t in ("string", "categorical") else t


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two distributions over the same bins (counts or shares)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), EPS)
    a = np.maximum(a / a.sum(), EPS)
    return float(((a - e) * np.log(a / e)).sum())


def _kll(state: dict):
    blob = state.get("kll")
    return ds.kll_doubles_sketch.deserialize(base64.b64decode(blob)) if blob else None


def _numeric_bins(prev: dict, cur: dict) -> tuple[np.ndarray, np.ndarray] | None:
    pk, ck = _kll(prev), _kll(cur)
    if pk is None and ck is None:
        return None
    ref = pk or ck
    splits = sorted(set(float(v) for v in ref.get_quantiles([i / 10 for i in range(1, 10)])))

    def masses(sketch, state) -> np.ndarray:
        nulls = state.get("nulls", 0)
        n = state.get("n", 0)
        if sketch is None or n == 0:
            return np.array([0.0] * (len(splits) + 1) + [float(nulls)])
        pmf = np.array(sketch.get_pmf(splits), dtype=np.float64) * n
        return np.append(pmf, float(nulls))

    return masses(pk, prev), masses(ck, cur)


def digest(value: str) -> str:
    """What a column with personal data keeps of a value in its drift state."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def _categorical_bins(prev: dict, cur: dict) -> tuple[np.ndarray, np.ndarray]:
    pc, cc = prev.get("counts", {}), cur.get("counts", {})
    if prev.get("hashed") != cur.get("hashed"):  # personal data found in one version only
        if not prev.get("hashed"):
            pc = {digest(k): v for k, v in pc.items()}
        if not cur.get("hashed"):
            cc = {digest(k): v for k, v in cc.items()}
    keys = sorted(set(pc) | set(cc))

    def masses(counts: dict, state: dict) -> np.ndarray:
        listed = [float(counts.get(k, 0)) for k in keys]
        other = max(0.0, state.get("non_null", 0) - sum(listed))
        return np.array(listed + [other, float(state.get("nulls", 0))])

    return masses(pc, prev), masses(cc, cur)


def compute_drift(
    previous_state: dict,
    current_state: dict,
    *,
    previous_version: int,
    psi_threshold: float = 0.2,
    ks_pvalue_threshold: float = 0.05,
) -> dict:
    """API.md's drift object: {"previous_version", "columns": {name: {"psi","ks_pvalue"|None,"drifted"}},
    "schema_changes": [{"change": "added"|"removed"|"retyped", "column", "before"?, "after"?}]}"""
    prev_schema = [(c["name"], c["type"]) for c in (previous_state or {}).get("schema", [])]
    cur_schema = [(c["name"], c["type"]) for c in (current_state or {}).get("schema", [])]
    prev_types, cur_types = dict(prev_schema), dict(cur_schema)
    changes: list[dict[str, Any]] = []
    for name, t in cur_schema:
        if name not in prev_types:
            changes.append({"change": "added", "column": name, "after": t})
        elif _family(prev_types[name]) != _family(t):
            changes.append({"change": "retyped", "column": name, "before": prev_types[name], "after": t})
    for name, t in prev_schema:
        if name not in cur_types:
            changes.append({"change": "removed", "column": name, "before": t})

    prev_cols = (previous_state or {}).get("columns", {})
    cur_cols = (current_state or {}).get("columns", {})
    columns: dict[str, dict] = {}
    for name, _t in cur_schema:
        if name not in prev_types or name not in prev_cols or name not in cur_cols:
            continue
        p, c = prev_cols[name], cur_cols[name]
        value_psi: float | None = None
        ks_p: float | None = None
        if (
            p.get("kind") == "numeric"
            and c.get("kind") == "numeric"
            and (p.get("family") == "datetime") == (c.get("family") == "datetime")
        ):
            bins = _numeric_bins(p, c)
            if bins is not None:
                value_psi = psi(*bins)
            ps, cs = p.get("sample") or [], c.get("sample") or []
            if len(ps) >= 2 and len(cs) >= 2:
                ks_p = float(stats.ks_2samp(ps, cs).pvalue)
        elif p.get("kind") == "categorical" and c.get("kind") == "categorical":
            value_psi = psi(*_categorical_bins(p, c))
        retyped = _family(prev_types[name]) != _family(cur_types[name])
        # Integers and floats are one numeric family here: 181 -> 181.0 is listed as a schema
        # change above, but PSI and KS compare the numbers and decide. A retype whose values
        # cannot be compared (numbers -> text, text -> dates...) is drift by itself.
        comparable = value_psi is not None or ks_p is not None
        drifted = (retyped and not comparable) or (value_psi is not None and value_psi >= psi_threshold)
        if ks_p is not None and ks_p < ks_pvalue_threshold:
            drifted = True
        columns[name] = {
            "psi": None if value_psi is None or not math.isfinite(value_psi) else round(value_psi, 6),
            "ks_pvalue": ks_p,
            "drifted": bool(drifted),
        }
    return {"previous_version": previous_version, "columns": columns, "schema_changes": changes}
