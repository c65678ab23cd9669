"""Per-column statistics, accumulated batch by batch with bounded memory.

Each column keeps:
- exact counters: rows, nulls, min, max, and mean/variance merged per batch (Chan et al.);
- a value -> count table while the column has at most ``exact_distinct_limit`` distinct values,
  which gives exact distinct counts, top values, quantiles and histograms;
- once the table outgrows the limit, sketches instead: KLL (quantiles, histogram), HyperLogLog
  (distinct count) and count-min (counts of the candidate top values: the most frequent values of
  the table at the switch and the values that repeat in the row sample). Numbers feed the KLL
  sketch from the first row on.
"""

import base64
import datetime as dt
import math
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profiling.engine.sketches import CountMin, HyperLogLog, hash_numbers, hash_strings
from profiling.engine.types import QUANTILES

KLL_K = 200  # KLL accuracy parameter: about 1.3 % normalised rank error, a few KiB per column
DRIFT_KLL_ROWS = 1 << 17  # about the rows fed to drift's KLL sketch of an exact column (_scaled_counts)
MAX_CANDIDATES = 1_024  # candidate top values kept by a sketched column (parts merged add theirs)


def family_of(t: pa.DataType) -> str:
    """The statistics family of an Arrow type: how the column's values are summarised."""
    if pa.types.is_dictionary(t):
        return family_of(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return "string"  # times of day and durations are summarised by their text form
    return "nested"  # lists, maps, binary, unions: counted, not summarised


def _to_string(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if not (pa.types.is_string(arr.type)):
        arr = arr.cast(pa.string())
    return arr


class ColumnStats:
    """Everything one column accumulates over the pass."""

    def __init__(self, name: str, arrow_type: pa.DataType, *, exact_limit: int, cms_bits: int = 16):
        self.name = name
        self.arrow_type = arrow_type
        self.family = family_of(arrow_type)
        self.exact_limit = max(1, exact_limit)
        self.cms_bits = cms_bits
        self.rows = 0
        self.nulls = 0
        self.non_finite = 0
        self.n = 0  # non-null values that count for mean/std (finite numbers)
        self.mean = 0.0
        self.m2 = 0.0
        self.min: Any = None
        self.max: Any = None
        # Exact value -> count table, as pending per-batch tables compacted now and then.
        self.pending_values: list = []
        self.pending_counts: list[np.ndarray] = []
        self.pending_rows = 0
        self.table_values: Any = None  # np.ndarray (numbers) or pa.Array (strings)
        self.table_counts: np.ndarray | None = None
        self.exact = True
        self.unsupported = ""
        self.kll = ds.kll_doubles_sketch(KLL_K) if self.family in ("integer", "float", "datetime") else None
        self.hll: HyperLogLog | None = None
        self.cms: CountMin | None = None
        self.candidates: list = []  # the most frequent values when the exact table was given up
        if self.family == "datetime":
            self.unit, self.tz = _time_unit(arrow_type)

    # ------------------------------------------------------------------ per batch
    def update(self, arr: pa.Array) -> None:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        n = len(arr)
        self.rows += n
        nulls = arr.null_count
        self.nulls += nulls
        if n == nulls or self.family in ("null", "nested"):
            return
        valid = arr.drop_null() if nulls else arr
        try:
            self._update_valid(valid)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # A type pyarrow cannot summarise this way (e.g. a duration it cannot cast to text):
            # keep counting rows and nulls, and say so, rather than failing the profile.
            self.family = "nested"
            self.unsupported = f"{self.arrow_type}: {exc}"

    def _update_valid(self, valid: pa.Array) -> None:
        if self.family in ("integer", "float", "datetime"):
            self._update_numbers(valid)
        elif self.family == "boolean":
            self._update_exact(valid.cast(pa.int8()).to_numpy(), numeric=True)
            values = valid.cast(pa.float64()).to_numpy()
            self._merge_moments(values)
        else:
            self._update_strings(_to_string(valid))

    def _update_numbers(self, valid: pa.Array) -> None:
        if self.family == "datetime":
            values = _datetime_ints(valid)
        elif pa.types.is_decimal(valid.type):
            values = valid.cast(pa.float64()).to_numpy()
        else:
            values = valid.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                self.non_finite += int((~finite).sum())
                values = values[finite]
                if len(values) == 0:
                    return
        lo, hi = values.min(), values.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)
        as_float = values.astype(np.float64, copy=False)
        if self.family != "datetime":  # no mean or std is reported for dates
            self._merge_moments(as_float)
        else:
            self.n += len(as_float)
        if self.exact:
            # While exact, the value table feeds the sketch only if the column switches.
            self._update_exact(values, numeric=True)
        else:
            if not as_float.flags.writeable:  # the binding refuses read-only (zero-copy) arrays
                as_float = as_float.copy()
            self.kll.update(as_float)
            hashes = hash_numbers(values)
            self.hll.update_hashes(hashes)
            self.cms.update_hashes(hashes)

    def _merge_moments(self, values: np.ndarray) -> None:
        """Chan et al.'s parallel update: batch mean and M2 merged into the running ones."""
        nb = len(values)
        if nb == 0:
            return
        mb = float(values.mean())
        self._add_moments(nb, mb, float(((values - mb) ** 2).sum()))

    def _add_moments(self, nb: int, mb: float, m2b: float) -> None:
        """Chan, Golub and LeVeque's pairwise combination of (count, mean, M2)."""
        if nb == 0:
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n

    def _update_strings(self, valid: pa.Array) -> None:
        if self.exact:
            # The batch's distinct values have its min and max: comparing a few is cheaper than all.
            distinct = self._update_exact(valid, numeric=False)
        else:
            distinct = valid
            hashes = hash_strings(valid)
            self.hll.update_hashes(hashes)
            self.cms.update_hashes(hashes)
        mm = pc.min_max(distinct)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def _update_exact(self, values, *, numeric: bool):
        """Count the batch's values into the pending tables → its distinct values (an Arrow array)."""
        vc = pc.value_counts(values)
        distinct = vc.field("values")
        self.pending_values.append(distinct if not numeric else distinct.to_numpy())
        self.pending_counts.append(vc.field("counts").to_numpy())
        self.pending_rows += len(vc)
        if self.pending_rows > self.exact_limit:
            self._compact()
        return distinct

    def _compact(self) -> None:
        if not self.pending_values:
            return
        numeric = isinstance(self.pending_values[0], np.ndarray)
        values = list(self.pending_values)
        counts = list(self.pending_counts)
        if self.table_values is not None:
            values.insert(0, self.table_values)
            counts.insert(0, self.table_counts)
        self.pending_values, self.pending_counts, self.pending_rows = [], [], 0
        all_counts = np.concatenate(counts)
        if numeric:
            uniq, inverse = np.unique(np.concatenate(values), return_inverse=True)
            summed = np.bincount(inverse, weights=all_counts).astype(np.int64)
            table_values: Any = uniq
        else:
            t = pa.table({"v": pa.concat_arrays(values), "c": pa.array(all_counts)})
            g = t.group_by("v").aggregate([("c", "sum")])
            table_values, summed = g.column("v").combine_chunks(), g.column("c_sum").to_numpy()
        if len(summed) > self.exact_limit:
            self._to_sketches(table_values, summed, numeric)
        else:
            self.table_values, self.table_counts = table_values, summed

    def _to_sketches(self, values, counts: np.ndarray | None, numeric: bool) -> None:
        """The column has too many distinct values for an exact table: keep sketches from now on."""
        self.exact = False
        if counts is None:  # nothing counted yet (a part of nulls only)
            values = np.empty(0, dtype=np.int64) if numeric else pa.array([], type=pa.string())
            counts = np.empty(0, dtype=np.int64)
        hashes = hash_numbers(values) if numeric else hash_strings(values)
        self.hll = HyperLogLog()
        self.hll.update_hashes(hashes)
        self.cms = CountMin(width_bits=self.cms_bits)
        self.cms.update_hashes(hashes, weights=counts.astype(np.float64))
        if self.kll is not None:
            _feed_kll(self.kll, values, counts)
        self.candidates = _frequent(values, counts, numeric)
        self.table_values = self.table_counts = None

    # ------------------------------------------------------------------ merging parts
    def merge(self, other: "ColumnStats") -> None:
        """Add the statistics of the same column over other rows (another part of the file, read
        with the same type): counts add, moments combine by Chan et al.'s formulas, value tables
        add up (and switch to sketches past the limit, as one pass would), sketches merge."""
        if other.name != self.name or other.arrow_type != self.arrow_type:
            raise ValueError(f"cannot merge column {other.name} ({other.arrow_type}) into {self.name}")
        self.rows += other.rows
        self.nulls += other.nulls
        self.non_finite += other.non_finite
        self._add_moments(other.n, other.mean, other.m2)
        if other.min is not None:
            self.min = other.min if self.min is None else min(self.min, other.min)
            self.max = other.max if self.max is None else max(self.max, other.max)
        if other.family == "nested" and self.family != "nested":
            self.family, self.unsupported = "nested", other.unsupported
        self._compact()
        other._compact()
        if self.exact and other.exact:
            if other.table_counts is not None:
                self.pending_values, self.pending_counts = [other.table_values], [other.table_counts]
                self.pending_rows = len(other.table_counts)
                self._compact()
            return
        if self.exact:
            self._to_sketches(self.table_values, self.table_counts, self._numeric_table())
        if other.exact:
            if other.table_counts is not None:
                self._add_to_sketches(other.table_values, other.table_counts, other._numeric_table())
            return
        self.hll.merge(other.hll)
        self.cms.merge(other.cms)
        if self.kll is not None and other.kll is not None:
            self.kll.merge(other.kll)
        self._keep_candidates(self.candidates + other.candidates)

    def _numeric_table(self) -> bool:
        return self.family in ("integer", "float", "datetime", "boolean")

    def _add_to_sketches(self, values, counts: np.ndarray, numeric: bool) -> None:
        """Feed a value -> count table to sketches already in use (another part's exact table)."""
        hashes = hash_numbers(values) if numeric else hash_strings(values)
        self.hll.update_hashes(hashes)
        self.cms.update_hashes(hashes, weights=counts.astype(np.float64))
        if self.kll is not None:
            _feed_kll(self.kll, values, counts)
        self._keep_candidates(self.candidates + _frequent(values, counts, numeric))

    def _keep_candidates(self, candidates: list) -> None:
        """Candidate top values without repeats; past MAX_CANDIDATES, those counted most often."""
        candidates = list(dict.fromkeys(candidates))
        if len(candidates) > MAX_CANDIDATES:
            est = self.cms.estimate(self._candidate_hashes(candidates))
            order = sorted(range(len(candidates)), key=lambda i: _top_order((candidates[i], int(est[i]))))
            candidates = [candidates[i] for i in order[:MAX_CANDIDATES]]
        self.candidates = candidates

    # ------------------------------------------------------------------ at the end
    def finish(self, *, bins: int, top_k: int, sample: pa.Array | None = None) -> dict:
        """API.md's column object (plus private keys starting with '_' for the profile's own use).

        ``sample`` (the column's non-null values in the row sample) proposes top-value candidates
        once the column is sketched."""
        self._compact()
        non_null = self.rows - self.nulls
        family = self.family
        out: dict[str, Any] = {
            "name": self.name,
            "type": _api_type(family),
            "null_count": int(self.nulls),
            "null_fraction": (self.nulls / self.rows) if self.rows else None,
            "distinct_count": None,
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "quantiles": None,
            "histogram": None,
            "top_values": [],
            "pii": [],
        }
        method: dict[str, Any] = {"exact": self.exact}
        out["_method"] = method
        if family in ("null", "nested") or non_null == 0:
            out["distinct_count"] = 0 if non_null == 0 else None
            if family == "nested":
                method["note"] = self.unsupported or "nested values: only nulls counted"
            return out
        numeric = family in ("integer", "float", "datetime")
        if self.exact:
            distinct = len(self.table_counts) if self.table_counts is not None else 0
            top = self._exact_top(top_k)
        else:
            distinct = self.hll.estimate()
            if self.n and numeric:
                distinct = min(distinct, self.n)
            distinct = min(distinct, non_null)
            top = self._sketched_top(top_k, sample)
        out["distinct_count"] = int(distinct)
        if family == "boolean":
            counts = dict(top)
            out["top_values"] = [{"value": bool(v), "count": int(c)} for v, c in top]
            out["mean"] = counts.get(1, 0) / non_null
            out["min"] = bool(min(counts)) if counts else None
            out["max"] = bool(max(counts)) if counts else None
            return out
        if family == "string":
            out["min"], out["max"] = self.min, self.max
            out["top_values"] = [{"value": v, "count": int(c)} for v, c in top]
            return out
        # numbers and datetimes
        if self.n == 0:  # only NaN / infinities
            return out
        convert = self._to_output
        out["min"], out["max"] = convert(self.min), convert(self.max)
        if family != "datetime":
            out["mean"], out["std"] = self._mean_std()
        qs = self._quantiles(QUANTILES)
        quantiles = {str(q): convert(v, quantile=True) for q, v in zip(QUANTILES, qs, strict=True)}
        if family == "datetime":
            # API.md's quantiles are numbers; a date's are ISO text, so they go to the method record.
            method["datetime_quantiles"] = quantiles
        else:
            out["quantiles"] = quantiles
        edges, counts = self._histogram(bins)
        out["histogram"] = {"bins": [convert(e, quantile=True) for e in edges], "counts": counts}
        out["top_values"] = [{"value": convert(v), "count": int(c)} for v, c in top]
        method["quantiles"] = "exact" if self.exact else f"KLL sketch (k={KLL_K}, n={self.kll.n})"
        return out

    def _mean_std(self) -> tuple[float, float]:
        """Mean and sample standard deviation. From the value table while there is one: the same
        figures however the rows were split into batches or parts; else from Chan's moments,
        which parts merged give up to floating-point rounding."""
        mean, m2 = self.mean, self.m2
        if self.exact and self.table_counts is not None and len(self.table_counts):
            values = np.asarray(self.table_values, dtype=np.float64)
            counts = self.table_counts.astype(np.float64)
            with np.errstate(over="ignore", invalid="ignore"):
                mean = float(np.dot(values, counts) / counts.sum())
                m2 = float(np.dot((values - mean) ** 2, counts))
        return mean, (math.sqrt(m2 / (self.n - 1)) if self.n > 1 else 0.0)

    def _exact_top(self, k: int) -> list[tuple]:
        """The k most frequent values; ties at the cut go to the smallest values, so that the
        answer depends on the table only, not on the order its rows were counted in."""
        if self.table_counts is None or len(self.table_counts) == 0:
            return []
        counts = self.table_counts
        n = len(counts)
        k = min(k, n)
        idx = np.arange(n)
        if k < n:
            kth = np.partition(counts, n - k)[n - k]
            idx = np.flatnonzero(counts > kth)
            ties = np.flatnonzero(counts == kth)
            ties = ties[self._value_order(ties)[: k - len(idx)]]
            idx = np.concatenate([idx, ties])
        if isinstance(self.table_values, np.ndarray):
            values = self.table_values[idx].tolist()
        else:
            values = self.table_values.take(pa.array(idx)).to_pylist()
        pairs = list(zip(values, counts[idx].tolist(), strict=True))
        return sorted(pairs, key=_top_order)

    def _value_order(self, idx: np.ndarray) -> np.ndarray:
        """Positions in ``idx`` sorted by their table values (numbers as numbers, text by code point)."""
        if isinstance(self.table_values, np.ndarray):
            return np.argsort(self.table_values[idx], kind="stable")
        return pc.sort_indices(self.table_values.take(pa.array(idx))).to_numpy()

    def _sketched_top(self, k: int, sample: pa.Array | None) -> list[tuple]:
        """Candidate values with their count-min estimates, most frequent first."""
        if sample is not None and len(sample) and self.family != "nested":
            try:
                vc = pc.value_counts(sample)
                repeated = pc.filter(vc.field("values"), pc.greater(vc.field("counts"), 1))
                if self.family == "datetime":
                    extra = _datetime_ints(repeated).tolist()
                elif self.family == "integer":
                    extra = repeated.to_pylist()  # Python ints, uint64 included
                elif self.family == "float":
                    extra = repeated.cast(pa.float64()).to_pylist()
                else:
                    extra = repeated.cast(pa.string()).to_pylist()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                extra = []  # e.g. uint64 beyond int64: the candidates from the table remain
            self.candidates = list(dict.fromkeys(self.candidates + extra))
        if not self.candidates:
            return []
        est = self.cms.estimate(self._candidate_hashes(self.candidates))
        pairs = [(v, int(c)) for v, c in zip(self.candidates, est.tolist(), strict=True) if c > 1]
        return sorted(pairs, key=_top_order)[:k]

    def _candidate_hashes(self, candidates: list) -> np.ndarray:
        if self.family == "string":
            return hash_strings(pa.array(candidates, type=pa.string()))
        if self.family == "float":
            return hash_numbers(np.array(candidates, dtype=np.float64))
        # Hashed by the same 64 bits as when counted: with the column's own integer type, or
        # numpy would turn candidates below and above 2**63 together into (rounded) floats.
        dtype = np.uint64 if pa.types.is_unsigned_integer(_value_type(self.arrow_type)) else np.int64
        return hash_numbers(np.array(candidates, dtype=dtype))

    def _quantiles(self, qs) -> list[float]:
        if self.exact and self.table_counts is not None and len(self.table_counts):
            values, counts = self.table_values, self.table_counts  # sorted by np.unique
            cum = np.cumsum(counts)
            total = int(cum[-1])
            out = []
            for q in qs:
                # The same linear interpolation as numpy's and pandas' default.
                h = (total - 1) * q
                lo_rank, hi_rank = math.floor(h), math.ceil(h)
                lo = float(values[np.searchsorted(cum, lo_rank, side="right")])
                hi = float(values[np.searchsorted(cum, hi_rank, side="right")])
                out.append(lo + (h - lo_rank) * (hi - lo))
            return out
        return [float(v) for v in self.kll.get_quantiles(list(qs))]

    def _histogram(self, bins: int) -> tuple[list[float], list[int]]:
        lo, hi = float(self.min), float(self.max)
        if lo == hi:
            return [lo, hi], [int(self.n)]
        if self.family in ("integer", "datetime") and self.family == "integer" and hi - lo + 1 <= bins:
            edges = np.arange(lo, hi + 2) - 0.5  # one bin per integer value
        else:
            # unique: near 2**63 (uint64) neighbouring edges can round to the same float.
            edges = np.unique(np.linspace(lo, hi, bins + 1))
            if len(edges) < 3:
                return [lo, hi], [int(self.n)]
        if self.exact and self.table_counts is not None:
            counts, _ = np.histogram(
                self.table_values.astype(np.float64), bins=edges, weights=self.table_counts
            )
            return edges.tolist(), [int(round(c)) for c in counts]
        pmf = self.kll.get_pmf(edges[1:-1].tolist())
        counts = [int(round(p * self.n)) for p in pmf]
        return edges.tolist(), counts

    def _to_output(self, v, *, quantile: bool = False):
        if v is None:
            return None
        if self.family == "datetime":
            return _iso(int(round(float(v))), self.unit, self.tz)
        if self.family == "integer" and not quantile:
            return int(v)
        v = float(v)
        return v if math.isfinite(v) else None

    def drift_state(self, sample_values: np.ndarray | None, *, max_sample: int) -> dict:
        """What drift needs from this column later: a KLL sketch or a category table, nulls, a sample."""
        state: dict[str, Any] = {"family": self.family, "rows": int(self.rows), "nulls": int(self.nulls)}
        if self.family in ("integer", "float", "datetime"):
            state["kind"] = "numeric"
            state["n"] = int(self.n)
            sketch = self.kll
            if self.exact and self.table_counts is not None:
                sketch = ds.kll_doubles_sketch(KLL_K)
                _feed_kll(sketch, self.table_values, _scaled_counts(self.table_counts))
            state["kll"] = base64.b64encode(sketch.serialize()).decode("ascii") if self.n else None
            if sample_values is not None and len(sample_values):
                state["sample"] = [float(x) for x in sample_values[:max_sample]]
        elif self.family in ("string", "boolean"):
            state["kind"] = "categorical"
            top = self._exact_top(1000) if self.exact else self._sketched_top(1000, None)
            state["counts"] = {_key(v): int(c) for v, c in top}
            state["non_null"] = int(self.rows - self.nulls)
        else:
            state["kind"] = "other"
        return state


def _frequent(values, counts: np.ndarray, numeric: bool) -> list:
    """Candidate top values of a value -> count table: its 256 most frequent, if seen twice or more."""
    k = min(len(counts), 256)
    if k == 0:
        return []
    top = np.argpartition(-counts, k - 1)[:k]
    top = top[counts[top] > 1]  # a value seen once is no top value
    return values[top].tolist() if numeric else values.take(pa.array(top)).to_pylist()


def _scaled_counts(counts: np.ndarray) -> np.ndarray:
    """Counts scaled down to about DRIFT_KLL_ROWS in all (never below 1) for drift's sketch of an
    exact column: drift reads only shares of it (deciles, masses), which scaling keeps within
    0.5 x distinct / DRIFT_KLL_ROWS (under 1 %), and feeding 10 million copies of a few values
    would be the slowest step of finishing a big profile, after the merge of its parts."""
    total = int(counts.sum())
    target = max(DRIFT_KLL_ROWS, 50 * len(counts))
    if total <= target:
        return counts
    return np.maximum(1, np.rint(counts * (target / total))).astype(np.int64)


def _feed_kll(sketch, values: np.ndarray, counts: np.ndarray) -> None:
    """Feed a value -> count table to a KLL sketch (it takes no weights), in bounded chunks."""
    as_float = np.asarray(values, dtype=np.float64)
    chunk = max(1, 1_000_000 // max(1, int(counts.max()) if len(counts) else 1))
    for i in range(0, len(as_float), chunk):
        sketch.update(np.repeat(as_float[i : i + chunk], counts[i : i + chunk]))


def _key(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _api_type(family: str) -> str:
    return {"null": "string", "nested": "string"}.get(family, family)


def _time_unit(t: pa.DataType) -> tuple[str, str | None]:
    if pa.types.is_timestamp(t):
        return t.unit, t.tz
    if pa.types.is_date32(t):
        return "D", None
    return "ms", None  # date64


def _datetime_ints(arr: pa.Array) -> np.ndarray:
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    return arr.cast(pa.int64()).to_numpy()


def _iso(value: int, unit: str, tz: str | None) -> str:
    if unit == "D":
        return (dt.date(1970, 1, 1) + dt.timedelta(days=value)).isoformat()
    text = str(np.datetime64(value, unit).astype("datetime64[us]"))
    # Arrow keeps zoned timestamps as UTC instants, so they are shown in UTC.
    return text + "Z" if tz else text


def _top_order(pair: tuple) -> tuple:
    """Most frequent first; ties in value order (numbers as numbers, the rest as text)."""
    value, count = pair
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (-count, 0, value, "")
    return (-count, 1, 0, str(value))
