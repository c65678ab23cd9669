"""``profile_file``: one streaming pass over a file gives every statistic the profile reports.

The pass feeds each batch to the column accumulators (columns.py), the bias counters (bias.py)
and a uniform row sample; PII detection, mixed-type checks and proxy columns then work on that
sample, and drift keeps sketches and a small sample for a later comparison (drift.py).
"""

import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profiling.engine import bias as bias_mod
from profiling.engine import pii as pii_mod
from profiling.engine.columns import ColumnStats
from profiling.engine.drift import STATE_VERSION, digest
from profiling.engine.readers import (
    MAX_RETYPES,
    MIXED_JSON,
    NO_DATES,
    ReadPlan,
    Retype,
    apply_retype,
    flatten,
    stream,
    threaded,
)
from profiling.engine.sketches import RowSample
from profiling.engine.types import ProfileError, ProfileOptions, ProfileResult

# Value -> count entries kept by all columns together (a wide file gets smaller tables per column):
# about 4 million entries, a few hundred MB at most with text values.
EXACT_CELLS = 4_000_000
CMS_BYTES = 64 * 1024 * 1024
WIDE = 64  # columns from which small batches are joined before the statistics see them
GROUP_CELLS = 2_000_000  # ... up to about this many cells
PROGRESS_EVERY = 0.25  # seconds between progress callbacks at most
CATEGORICAL_MAX = 100  # a text column with at most this many distinct values (and repeats) is categorical
ISO_DATE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
NUMBER_TEXT = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


class _Progress:
    def __init__(self, callback: Callable[[float], None] | None):
        self.callback = callback
        self.last = 0.0
        self.best = 0.0

    def __call__(self, fraction: float, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        # Never backwards: a restart (a column read again with a wider type) starts from 0.
        fraction = max(self.best, max(0.0, min(1.0, float(fraction))))
        if force or (now - self.last >= PROGRESS_EVERY and fraction > self.best):
            self.last, self.best = now, fraction
            self.callback(fraction)


def profile_file(
    path: str,
    *,
    format: str,
    compression: str = "",
    encoding: str = "utf-8",
    sensitive_columns: Sequence[str] = (),
    label_column: str | None = None,
    positive_label: Any = None,
    options: ProfileOptions | None = None,
    progress: Callable[[float], None] | None = None,
) -> ProfileResult:
    """Profile a dataset file in one streaming pass; raise ProfileError on unreadable data.

    progress(fraction in 0..1) is called at most a few times per second (by text blocks parsed /
    Parquet rows read), never backwards, and with 1.0 at the end.
    """
    options = options or ProfileOptions()
    if isinstance(sensitive_columns, str):  # one name, not its characters
        sensitive_columns = [sensitive_columns]
    plan = ReadPlan(
        path=str(path),
        format=format,
        compression=compression or "",
        encoding=encoding or "utf-8",
        batch_rows=max(1, int(options.batch_rows)),
        max_row_bytes=options.max_row_bytes,
        block_size=max(4096, int(options.block_bytes)),
    )
    retypes: list[Retype] = []
    tick = _Progress(progress)
    for _attempt in range(MAX_RETYPES):
        try:
            result = _one_pass(
                plan,
                options=options,
                sensitive=list(dict.fromkeys(sensitive_columns or ())),
                label_column=label_column or None,
                positive_label=positive_label,
                tick=tick,
            )
        except Retype as retype:
            apply_retype(plan, retype)
            retypes.append(retype)
            continue
        except MemoryError as exc:
            raise ProfileError("The file could not be profiled within the worker's memory.") from exc
        result.method["restarts"] = [r.reason for r in retypes]
        for retype in retypes:
            name = retype.column
            if name.startswith(NO_DATES):
                name = name[len(NO_DATES) :]
            elif name.startswith("\x00") or not name:
                continue  # bigger blocks, a renamed header...: nothing about the data
            elif retype.new_type is not None and pa.types.is_uint64(retype.new_type):
                continue  # an id past 2**63 after smaller ones: still integers, nothing mixed
            result.warnings.append(
                f"Column {name} mixes kinds of values ({retype.reason}); it was read as {_read_as(plan, name)}."
            )
        tick(1.0, force=True)
        return result
    raise ProfileError("The column types of the file keep changing while it is read; it cannot be profiled.")


def _read_as(plan: ReadPlan, name: str) -> str:
    t = plan.column_types.get(name)
    if t is None or pa.types.is_string(t):
        return "text"
    return "numbers" if (pa.types.is_floating(t) or pa.types.is_integer(t)) else str(t)


def _one_pass(
    plan: ReadPlan,
    *,
    options: ProfileOptions,
    sensitive: list[str],
    label_column: str | None,
    positive_label: Any,
    tick: _Progress,
) -> ProfileResult:
    started = time.perf_counter()
    requested = list(sensitive)
    date_casts: dict[str, pa.DataType] = {}
    stats: list[ColumnStats] = []
    names: list[str] = []
    warnings: list[str] = []
    sample: RowSample | None = None
    acc: bias_mod.BiasAccumulator | None = None
    bias_columns: list[str] = []
    row_count = 0
    sample_size = 0
    first = True
    for raw in _grouped(threaded(stream(plan)), options.batch_rows):
        batch = flatten(raw)
        if first and plan.format == "jsonl":
            date_casts = _json_date_columns(batch, plan.text_dates)
        if date_casts:
            batch = _cast_dates(batch, date_casts)
        if first:
            first = False
            names = batch.schema.names
            width = max(1, len(names))
            # Per-column exact tables share one budget so that 2,000 columns stay within memory.
            exact_limit = max(1_000, min(options.exact_distinct_limit, EXACT_CELLS // width))
            # Count-min tables shrink with the width too (2 MiB each at most, 64 MiB in all).
            cms_bits = max(10, min(16, int(math.log2(CMS_BYTES / (width * 4 * 8)))))
            stats = [
                ColumnStats(f.name, f.type, exact_limit=exact_limit, cms_bits=cms_bits) for f in batch.schema
            ]
            sample_size = max(100, min(options.pii_sample_rows, options.sample_cells // width))
            sample = RowSample(sample_size, options.seed)
            missing = [s for s in sensitive if s not in names]
            if missing:
                warnings.append(f"Sensitive column(s) not in the file: {', '.join(missing)}.")
            sensitive = [s for s in sensitive if s in names]
            if label_column is not None and label_column not in names:
                warnings.append(f"The label column {label_column} is not in the file.")
                label_column = None
            if sensitive:
                acc = bias_mod.BiasAccumulator(sensitive, label_column, positive_label, options.max_groups)
                bias_columns = sensitive + (
                    [label_column] if label_column and label_column not in sensitive else []
                )
        elif batch.schema.names != names:
            raise ProfileError("The columns of the file change between rows (a nested field appears later?).")
        if batch.num_rows == 0:
            continue
        row_count += batch.num_rows
        for i, col in enumerate(stats):
            col.update(batch.column(i))
        if acc is not None:
            acc.update(batch.select(bias_columns))
        sample.update(batch)
        tick(plan.progress_fraction())
    if first:
        # Not even a schema (an empty JSON Lines file): zero rows, zero columns.
        warnings.append("The file holds no rows.")
        return ProfileResult(
            row_count=0,
            columns=[],
            schema=[],
            bias=_empty_bias([], label_column, positive_label) if requested else None,
            pii={},
            drift_state={"version": STATE_VERSION, "row_count": 0, "schema": [], "columns": {}},
            warnings=warnings,
            method={"reader": plan.reader, "seconds": time.perf_counter() - started},
        )
    pass_seconds = time.perf_counter() - started
    if row_count == 0:
        warnings.append("The file holds no rows.")

    sampled = sample.result() if sample else None
    # Looking columns up by name in a 2,000-column table is slow; index them once.
    by_name = dict(zip(sampled.column_names, sampled.columns, strict=True)) if sampled is not None else None
    columns = [
        c.finish(
            bins=options.histogram_bins, top_k=options.top_values, sample=_sample_values(by_name, c.name)
        )
        for c in stats
    ]
    families = {c.name: c.family for c in stats}
    method_columns: dict[str, Any] = {}
    pii: dict[str, list[str]] = {}
    pii_rates: dict[str, dict] = {}
    for c, out in zip(stats, columns, strict=True):
        m = out.pop("_method")
        non_null = c.rows - c.nulls
        if c.family == "string" and out["distinct_count"] is not None:
            if (
                out["distinct_count"] <= CATEGORICAL_MAX
                and out["distinct_count"] <= max(1, non_null // 2)
                and c.exact
            ):
                out["type"] = "categorical"
        if row_count and non_null == 0:
            warnings.append(f"Column {c.name} is empty: every value is null.")
        if c.family == "nested":
            warnings.append(
                f"Column {c.name} holds nested values ({c.arrow_type}); only its nulls are profiled."
            )
        if c.non_finite:
            warnings.append(
                f"Column {c.name} holds {c.non_finite} NaN or infinite values, left out of its statistics."
            )
        values = _sample_values(by_name, c.name)
        if values is not None and len(values):
            if c.family == "string" and not pa.types.is_string(values.type):
                try:  # times of day: summarised by their text
                    values = values.cast(pa.string())
                except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                    values = None
            if values is None:
                kinds, rates = [], {}
            elif c.family == "string":
                kinds, rates = pii_mod.detect(
                    values,
                    threshold=options.pii_match_threshold,
                    regions=options.phone_regions,
                    seed=options.seed,
                )
                share = _number_share(values)
                if share == 1 and plan.format in ("csv", "tsv") and len(values) < non_null:
                    # pyarrow would have read a CSV column as numbers were every value one: the
                    # text values are rare enough to miss the sample. (Parquet and JSON columns of
                    # digit strings, such as zip codes, are text on purpose.)
                    warnings.append(
                        f"Column {c.name} mixes numbers and text (mostly numbers, a few text values), "
                        "so it is profiled as text."
                    )
                elif share >= 0.05 and out["type"] != "categorical":
                    warnings.append(
                        f"Column {c.name} mixes numbers and text ({share:.0%} of the sampled values are numbers)."
                    )
            elif (text := _numbers_worth_a_pii_check(c, values)) is not None:
                kinds, rates = pii_mod.detect(
                    text,
                    threshold=options.pii_match_threshold,
                    regions=options.phone_regions,
                    seed=options.seed,
                )
            else:
                kinds, rates = [], {}
            out["pii"] = kinds
            if kinds:
                pii[c.name] = kinds
            if rates:
                pii_rates[c.name] = rates
        m["sample_rows"] = 0 if values is None else len(values)
        method_columns[c.name] = m
    if pii:
        warnings.append(
            "Personal data found: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in pii.items()) + "."
        )

    bias = None
    proxy_measures: dict = {}
    if sensitive and acc is not None:
        bias = acc.result(row_count=row_count, representation_threshold=options.representation_threshold)
        exclude = set(sensitive) | ({label_column} if label_column else set())
        proxies, proxy_measures = bias_mod.find_proxies(
            sampled, families, sensitive, exclude, options.proxy_threshold
        )
        bias["proxies"] = proxies
        for p in proxies:
            bias["warnings"].append(
                f"Column {p['column']} is a proxy for {p['sensitive_column']} (Cramér's V {p['cramers_v']:.2f}): "
                "a model can learn the sensitive attribute from it."
            )
        warnings.extend(bias["warnings"])
    elif requested:
        bias = _empty_bias(sensitive, label_column, positive_label)

    schema = [{"name": out["name"], "type": out["type"]} for out in columns]
    drift_columns = {}
    for c in stats:
        numeric_sample = None
        if c.family in ("integer", "float", "datetime") and not (options.redact_pii and c.name in pii):
            numeric_sample = _numeric_sample(by_name, c.name, c.family)
        state = c.drift_state(numeric_sample, max_sample=options.drift_sample_size)
        if options.redact_pii and c.name in pii and "counts" in state:
            # PSI only needs the same key for the same value: keep digests, not e-mail addresses.
            state["counts"] = {digest(k): v for k, v in state["counts"].items()}
            state["hashed"] = True
        drift_columns[c.name] = state
    if options.redact_pii:
        for out in columns:
            if out["name"] in pii:
                # The profile is shown to everyone who may see the dataset's page: no personal
                # values in it. Counts, nulls and distinct counts stay.
                out["top_values"], out["min"], out["max"] = [], None, None
                if out["type"] in ("integer", "float"):
                    out["quantiles"], out["histogram"] = None, None
                method_columns[out["name"]]["redacted"] = (
                    "values of a column with personal data are not shown"
                )
    drift_state = {
        "version": STATE_VERSION,
        "row_count": row_count,
        "schema": schema,
        "columns": drift_columns,
    }
    warnings.extend(plan.notes)
    if plan.skipped_count:
        warnings.append(
            f"{plan.skipped_count} ragged row(s) were skipped (e.g. {plan.skipped_rows[0]}); the figures leave them out."
        )
    method = {
        "reader": plan.reader,
        "format": plan.format,
        "compression": plan.compression,
        "encoding": plan.encoding,
        "pass_seconds": round(pass_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "exact_distinct_limit": stats[0].exact_limit if stats else options.exact_distinct_limit,
        "sample_rows": 0 if sampled is None else sampled.num_rows,
        "sample_size_limit": sample_size,
        "skipped_rows": plan.skipped_count,
        "read_types": {
            **{k: str(v) for k, v in plan.column_types.items()},
            **{k: MIXED_JSON for k in sorted(plan.json_python_columns or ())},
        },
        "columns": method_columns,
        "pii_rates": pii_rates,
        "proxy_associations": proxy_measures,
        "statistics": {
            "exact": "row and null counts, min, max, mean, std; distinct, top values, quantiles and "
            "histograms while a column has at most exact_distinct_limit distinct values",
            "sketched": "past that limit: KLL quantiles and histogram, HyperLogLog distinct count, "
            "top values as count-min estimates for candidates (frequent values at the "
            "switch, values repeated in the row sample)",
            "sampled": "PII, mixed types, proxy columns and the KS sample use a uniform row sample",
        },
    }
    # Numbers past a 64-bit float's range (a mean or a deviation of values near 1e308 overflows) are
    # not JSON: they are left empty, and the column says so.
    for c, out in zip(stats, columns, strict=True):
        if c.non_finite:
            out["non_finite_count"] = c.non_finite
        if drop_non_finite(out):
            warnings.append(
                f"Column {c.name}: some statistics exceed the range of a 64-bit float and are left empty."
            )
    for part in (bias, drift_state):
        drop_non_finite(part)
    return ProfileResult(
        row_count=row_count,
        columns=columns,
        schema=schema,
        bias=bias,
        pii=pii,
        drift_state=drift_state,
        warnings=list(dict.fromkeys(warnings)),
        method=method,
    )


def drop_non_finite(value: Any) -> bool:
    """Replace every NaN or infinite float inside dicts and lists by None, in place → any replaced?"""
    found = False
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items):
        if isinstance(item, float) and not math.isfinite(item):
            value[key] = None
            found = True
        elif isinstance(item, dict | list):
            found = drop_non_finite(item) or found
    return found


def _grouped(batches, max_rows: int):
    """Join the batches of a wide file (pyarrow's 4 MiB blocks hold few rows of 2,000 columns) so
    that the per-column cost of each update is paid for a few thousand rows at a time. Narrow
    files pass through untouched (joining would only copy)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        width = batch.num_columns
        if width < WIDE:
            yield batch
            continue
        pending.append(batch)
        rows += batch.num_rows
        if rows * width >= GROUP_CELLS or rows >= max_rows:
            yield _join(pending)
            pending, rows = [], 0
    if pending:
        yield _join(pending)


def _join(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0] if table.num_rows else batches[0]


def _json_date_columns(batch: pa.RecordBatch, excluded: set[str]) -> dict[str, pa.DataType]:
    """Text fields of a JSON Lines file whose values in the first batch are all ISO-8601 dates or
    timestamps (pyarrow's JSON reader leaves them as text): the type to read them as."""
    casts: dict[str, pa.DataType] = {}
    for field in batch.schema:
        if not pa.types.is_string(field.type) or field.name in excluded:
            continue
        values = batch.column(field.name).drop_null()
        if len(values) == 0 or not pc.all(pc.match_substring_regex(values, ISO_DATE)).as_py():
            continue
        for t in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
            try:
                values.cast(t)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            casts[field.name] = t
            break
    return casts


def _cast_dates(batch: pa.RecordBatch, casts: dict[str, pa.DataType]) -> pa.RecordBatch:
    arrays = []
    for field, col in zip(batch.schema, batch.columns, strict=True):
        if field.name in casts:
            try:
                col = col.cast(casts[field.name])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                # A later value is no date: read the field as text from the start.
                raise Retype(
                    NO_DATES + field.name, None, f"field {field.name} holds text that is no date"
                ) from exc
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _empty_bias(sensitive: list[str], label_column: str | None, positive_label: Any) -> dict:
    return {
        "label_column": label_column,
        "positive_label": positive_label,
        "attributes": {},
        "warnings": ["None of the sensitive columns is in the file."] if not sensitive else [],
        "underrepresented": [],
        "proxies": [],
    }


# Words of a column name that say it holds phone numbers ("phone", "customer_mobile", "msisdn", "telNo").
_PHONE_WORDS = {"phone", "tel", "telephone", "mobile", "msisdn", "cell", "cellphone", "fax"}
_NAME_WORDS = re.compile(r"[^A-Za-z]+|(?<=[a-z])(?=[A-Z])")


def _named_like_a_phone(name: str) -> bool:
    words = {w.lower() for w in _NAME_WORDS.split(name) if w}
    return bool(words & _PHONE_WORDS) or any("phone" in w for w in words)


def _numbers_worth_a_pii_check(c: ColumnStats, values: pa.Array) -> pa.Array | None:
    """A numeric column's sample as digit strings when its numbers may be personal data, else None.

    Card numbers (13-19 digits) are long enough to check whatever the column's name: the Luhn checksum
    keeps the false positives out. Phone numbers are read as numbers from CSV too (``4155552671``, a
    French ``0612345678`` as ``612345678``;
    E.164's ``+14155552671`` becomes a float), but any 10-digit identifier validates as a phone number
    in some region, so those are checked only in a column named like one. Floats count only when every
    sampled value is a whole number.
    """
    if c.family not in ("integer", "float") or c.max is None:
        return None
    biggest = max(abs(float(c.max)), abs(float(c.min)) if c.min is not None else 0.0)
    if not (biggest >= 1e12 and c.family == "integer") and not (
        biggest >= 1e8 and _named_like_a_phone(c.name)
    ):
        return None
    if pa.types.is_floating(values.type):
        finite = pc.drop_null(values)
        if len(finite) == 0 or not pc.all(pc.equal(pc.floor(finite), finite)).as_py():
            return None
        values = finite.cast(pa.int64())
    return values.cast(pa.string())


def _sample_values(sampled: dict[str, pa.ChunkedArray] | None, name: str) -> pa.Array | None:
    if sampled is None or name not in sampled:
        return None
    col = sampled[name].combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
        col = col.cast(pa.string())
    return col.drop_null()


def _numeric_sample(sampled: dict[str, pa.ChunkedArray] | None, name: str, family: str) -> np.ndarray | None:
    col = _sample_values(sampled, name)
    if col is None or len(col) == 0:
        return None
    if family == "datetime":
        col = (
            col.cast(pa.int64())
            if pa.types.is_timestamp(col.type) or pa.types.is_date64(col.type)
            else col.cast(pa.int32())
        )
    values = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)  # uint64 may round
    return values[np.isfinite(values)]


def _number_share(values: pa.Array) -> float:
    if len(values) == 0 or not pa.types.is_string(values.type):
        return 0.0
    return float(pc.sum(pc.match_substring_regex(values, NUMBER_TEXT).cast(pa.int64())).as_py() or 0) / len(
        values
    )
