"""``profile_file``: one streaming pass over a file gives every statistic the profile reports.

The pass feeds each batch to the column accumulators (columns.py), the bias counters (bias.py)
and a uniform row sample; PII detection, mixed-type checks and proxy columns then work on that
sample, and drift keeps sketches and a small sample for a later comparison (drift.py).
"""

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.formats import too_many_columns
from profiling.engine.bias import BiasAccumulator, find_proxies
from profiling.engine.columns import ColumnStats
from profiling.engine.drift import STATE_VERSION, digest
from profiling.engine.json_reader import cast_dates, json_date_columns
from profiling.engine.location import Location
from profiling.engine.pii import detect as detect_pii
from profiling.engine.pii import numbers_worth_a_check
from profiling.engine.read_plan import (
    MAX_RETYPES,
    MIXED_JSON,
    NO_DATES,
    ReadPlan,
    Retype,
    apply_retype,
    new_plan,
)
from profiling.engine.readers import flatten, read_ahead, stream, threaded
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
    path: "str | Location",
    *,
    format: str = "",
    compression: str = "",
    encoding: str = "utf-8",
    sensitive_columns: Sequence[str] = (),
    label_column: str | None = None,
    positive_label: Any = None,
    options: ProfileOptions | None = None,
    progress: Callable[[float], None] | None = None,
    batch_consumers: Sequence[Any] = (),
) -> ProfileResult:
    """Profile a dataset in one streaming pass; raise ProfileError on unreadable data.

    ``path`` is a file on this machine's disk, or a ``Location`` (profiling.engine.location: an
    object on S3, a partitioned dataset, a PostgreSQL table) that carries its own format,
    compression and encoding; the profile's ``method["location"]`` then says where it was read.

    progress(fraction in 0..1) is called at most a few times per second (by text blocks parsed /
    Parquet rows read), never backwards, and with 1.0 at the end.

    ``batch_consumers`` see the same record batches (``consume(batch)``, nested fields flattened,
    before JSON dates are cast) so that the file is read once for them too, e.g. the quality suite
    (profiling.native_expectations); ``reset()`` is called when the pass restarts.
    """
    options = options or ProfileOptions()
    if isinstance(sensitive_columns, str):  # one name, not its characters
        sensitive_columns = [sensitive_columns]
    plan = new_plan(
        path,
        format=format,
        compression=compression,
        encoding=encoding,
        batch_rows=max(1, int(options.batch_rows)),
        max_row_bytes=options.max_row_bytes,
        block_size=max(4096, int(options.block_bytes)),
        max_text_bytes=options.max_text_bytes,
        max_expansion=options.max_expansion,
        max_json_depth=options.max_json_depth,
    )
    retypes: list[Retype] = []
    tick = _Progress(progress)
    for _attempt in range(MAX_RETYPES):
        for consumer in batch_consumers:
            consumer.reset()
        try:
            result = _one_pass(
                plan,
                options=options,
                sensitive=list(dict.fromkeys(sensitive_columns or ())),
                label_column=label_column or None,
                positive_label=positive_label,
                tick=tick,
                consumers=list(batch_consumers),
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
        _where(result, plan)
        tick(1.0, force=True)
        return result
    raise ProfileError("The column types of the file keep changing while it is read; it cannot be profiled.")


def _where(result: ProfileResult, plan: ReadPlan) -> None:
    """Where the data was read, when not from a file on this machine's disk, and what reading it
    there changed (a table sample, columns cast), in the method and the warnings."""
    location = plan.location
    if location is None or location.kind == "file":
        return
    result.method["location"] = {**location.describe(), **plan.source_notes}
    result.warnings.extend(w for w in location.warnings if w not in result.warnings)


def _read_as(plan: ReadPlan, name: str) -> str:
    t = plan.column_types.get(name)
    if t is None or pa.types.is_string(t):
        return "text"
    return "numbers" if (pa.types.is_floating(t) or pa.types.is_integer(t)) else str(t)


@dataclasses.dataclass
class _Pass:
    """What one pass over the file gathers; the batch loop fills it, the steps after it read it."""

    options: ProfileOptions
    sensitive: list[str]
    label_column: str | None
    positive_label: Any
    requested: list[str]  # the sensitive columns asked for, before those missing from the file go
    started: float = dataclasses.field(default_factory=time.perf_counter)
    stats: list[ColumnStats] | None = None  # None until the first batch (the schema) has come
    names: list[str] = dataclasses.field(default_factory=list)
    date_casts: dict[str, pa.DataType] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    sample: RowSample | None = None
    sample_size: int = 0
    acc: BiasAccumulator | None = None
    bias_columns: list[str] = dataclasses.field(default_factory=list)
    row_count: int = 0
    consumers: list[Any] = dataclasses.field(default_factory=list)  # see profile_file


def _one_pass(
    plan: ReadPlan,
    *,
    options: ProfileOptions,
    sensitive: list[str],
    label_column: str | None,
    positive_label: Any,
    tick: _Progress,
    consumers: list[Any] | None = None,
) -> ProfileResult:
    """Read the file once (Retype may restart it), then derive every figure from what was gathered."""
    run = _Pass(
        options=options,
        sensitive=list(sensitive),
        label_column=label_column,
        positive_label=positive_label,
        requested=list(sensitive),
        consumers=consumers or [],
    )
    _read_batches(run, plan, tick)
    if run.stats is None:
        return _no_schema_result(run, plan)
    pass_seconds = time.perf_counter() - run.started
    if run.row_count == 0:
        run.warnings.append("The file holds no rows.")
    sampled = run.sample.result() if run.sample else None
    # Looking columns up by name in a 2,000-column table is slow; index them once.
    by_name = dict(zip(sampled.column_names, sampled.columns, strict=True)) if sampled is not None else None
    columns, method_columns, pii, pii_rates = _finish_columns(run, plan, by_name)
    bias, proxy_measures = _bias(run, sampled)
    schema = [{"name": out["name"], "type": out["type"]} for out in columns]
    drift_columns = _drift_columns(run, by_name, pii)
    if options.redact_pii:
        _redact_pii_columns(columns, method_columns, pii)
    drift_state = {
        "version": STATE_VERSION,
        "row_count": run.row_count,
        "schema": schema,
        "columns": drift_columns,
    }
    _reading_notes(run.warnings, plan)
    method = _method(run, plan, sampled, pass_seconds=pass_seconds)
    method.update(columns=method_columns, pii_rates=pii_rates, proxy_associations=proxy_measures)
    method["statistics"] = dict(METHOD_STATISTICS)
    _drop_overflows(run, columns, bias, drift_state)
    return ProfileResult(
        row_count=run.row_count,
        columns=columns,
        schema=schema,
        bias=bias,
        pii=pii,
        drift_state=drift_state,
        warnings=list(dict.fromkeys(run.warnings)),
        method=method,
    )


def _read_batches(run: _Pass, plan: ReadPlan, tick: _Progress) -> None:
    """The streaming pass: each batch feeds the column statistics, the bias counters and the row
    sample (per-batch work only: nothing here runs per row in Python)."""
    for raw in _grouped(threaded(stream(plan), ahead_bytes=read_ahead(plan)), run.options.batch_rows):
        batch = flatten(raw)
        for consumer in run.consumers:
            consumer.consume(batch)
        if run.stats is None:
            if plan.format == "jsonl":
                run.date_casts = json_date_columns(batch, plan.text_dates)
            if run.date_casts:
                batch = cast_dates(batch, run.date_casts)
            _begin(run, batch.schema)
        else:
            if run.date_casts:
                batch = cast_dates(batch, run.date_casts)
            if batch.schema.names != run.names:
                raise ProfileError(
                    "The columns of the file change between rows (a nested field appears later?)."
                )
        if batch.num_rows == 0:
            continue
        run.row_count += batch.num_rows
        for i, col in enumerate(run.stats):
            col.update(batch.column(i))
        if run.acc is not None:
            run.acc.update(batch.select(run.bias_columns))
        run.sample.update(batch)
        tick(plan.progress_fraction())


def _begin(run: _Pass, schema: pa.Schema) -> None:
    """Set up the accumulators from the first batch's schema, sized by the file's width."""
    options = run.options
    run.names = names = schema.names
    if options.max_columns is not None and len(names) > options.max_columns:
        raise ProfileError(too_many_columns(len(names), options.max_columns))
    width = max(1, len(names))
    # Per-column exact tables share one budget so that 2,000 columns stay within memory.
    exact_limit = max(1_000, min(options.exact_distinct_limit, EXACT_CELLS // width))
    # Count-min tables shrink with the width too (2 MiB each at most, 64 MiB in all).
    cms_bits = max(10, min(16, int(math.log2(CMS_BYTES / (width * 4 * 8)))))
    run.stats = [ColumnStats(f.name, f.type, exact_limit=exact_limit, cms_bits=cms_bits) for f in schema]
    run.sample_size = max(100, min(options.pii_sample_rows, options.sample_cells // width))
    run.sample = RowSample(run.sample_size, options.seed)
    missing = [s for s in run.sensitive if s not in names]
    if missing:
        run.warnings.append(f"Sensitive column(s) not in the file: {', '.join(missing)}.")
    run.sensitive = [s for s in run.sensitive if s in names]
    if run.label_column is not None and run.label_column not in names:
        run.warnings.append(f"The label column {run.label_column} is not in the file.")
        run.label_column = None
    if run.sensitive:
        label = run.label_column
        run.acc = BiasAccumulator(run.sensitive, label, run.positive_label, options.max_groups)
        run.bias_columns = run.sensitive + ([label] if label and label not in run.sensitive else [])


def _no_schema_result(run: _Pass, plan: ReadPlan) -> ProfileResult:
    """Not even a schema (an empty JSON Lines file): zero rows, zero columns."""
    run.warnings.append("The file holds no rows.")
    return ProfileResult(
        row_count=0,
        columns=[],
        schema=[],
        bias=_empty_bias([], run.label_column, run.positive_label) if run.requested else None,
        pii={},
        drift_state={"version": STATE_VERSION, "row_count": 0, "schema": [], "columns": {}},
        warnings=run.warnings,
        method={"reader": plan.reader, "seconds": time.perf_counter() - run.started},
    )


def _finish_columns(run: _Pass, plan: ReadPlan, by_name) -> tuple[list[dict], dict, dict, dict]:
    """Each column's statistics, its type, PII and mixed-type findings from the row sample
    → (columns, method per column, PII kinds by column, PII match rates by column)."""
    options = run.options
    columns = [
        c.finish(
            bins=options.histogram_bins, top_k=options.top_values, sample=_sample_values(by_name, c.name)
        )
        for c in run.stats
    ]
    method_columns: dict[str, Any] = {}
    pii: dict[str, list[str]] = {}
    pii_rates: dict[str, dict] = {}
    for c, out in zip(run.stats, columns, strict=True):
        m = out.pop("_method")
        non_null = c.rows - c.nulls
        if c.family == "string" and out["distinct_count"] is not None:
            if (
                out["distinct_count"] <= CATEGORICAL_MAX
                and out["distinct_count"] <= max(1, non_null // 2)
                and c.exact
            ):
                out["type"] = "categorical"
        _column_warnings(run, c, non_null)
        values = _sample_values(by_name, c.name)
        if values is not None and len(values):
            kinds, rates, values = _column_findings(run, plan, c, out, values, non_null)
            out["pii"] = kinds
            if kinds:
                pii[c.name] = kinds
            if rates:
                pii_rates[c.name] = rates
        m["sample_rows"] = 0 if values is None else len(values)
        method_columns[c.name] = m
    if pii:
        run.warnings.append(
            "Personal data found: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in pii.items()) + "."
        )
    return columns, method_columns, pii, pii_rates


def _column_warnings(run: _Pass, c: ColumnStats, non_null: int) -> None:
    if run.row_count and non_null == 0:
        run.warnings.append(f"Column {c.name} is empty: every value is null.")
    if c.family == "nested":
        run.warnings.append(
            f"Column {c.name} holds nested values ({c.arrow_type}); only its nulls are profiled."
        )
    if c.non_finite:
        run.warnings.append(
            f"Column {c.name} holds {c.non_finite} NaN or infinite values, left out of its statistics."
        )


def _column_findings(
    run: _Pass, plan: ReadPlan, c: ColumnStats, out: dict, values: pa.Array, non_null: int
) -> tuple[list[str], dict, pa.Array | None]:
    """PII kinds and match rates in a column's sampled values, and a warning when text and numbers
    mix → (kinds, rates, the values looked at: None when a time column's text cannot be had)."""
    options = run.options
    if c.family == "string" and not pa.types.is_string(values.type):
        try:  # times of day: summarised by their text
            values = values.cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return [], {}, None
    if c.family == "string":
        kinds, rates = detect_pii(
            values, threshold=options.pii_match_threshold, regions=options.phone_regions, seed=options.seed
        )
        share = _number_share(values)
        if share == 1 and plan.format in ("csv", "tsv") and len(values) < non_null:
            # pyarrow would have read a CSV column as numbers were every value one: the text
            # values are rare enough to miss the sample. (Parquet and JSON columns of digit
            # strings, such as zip codes, are text on purpose.)
            run.warnings.append(
                f"Column {c.name} mixes numbers and text (mostly numbers, a few text values), "
                "so it is profiled as text."
            )
        elif share >= 0.05 and out["type"] != "categorical":
            run.warnings.append(
                f"Column {c.name} mixes numbers and text ({share:.0%} of the sampled values are numbers)."
            )
        return kinds, rates, values
    text = numbers_worth_a_check(values, name=c.name, family=c.family, low=c.min, high=c.max)
    if text is None:
        return [], {}, values
    kinds, rates = detect_pii(
        text, threshold=options.pii_match_threshold, regions=options.phone_regions, seed=options.seed
    )
    return kinds, rates, values


def _bias(run: _Pass, sampled: pa.Table | None) -> tuple[dict | None, dict]:
    """Bias indicators of the sensitive columns, with proxy columns found in the sample
    → (bias or None when none was asked for, proxy measures)."""
    options, sensitive, label = run.options, run.sensitive, run.label_column
    if not (sensitive and run.acc is not None):
        return (_empty_bias(sensitive, label, run.positive_label) if run.requested else None), {}
    bias = run.acc.result(row_count=run.row_count, representation_threshold=options.representation_threshold)
    exclude = set(sensitive) | ({label} if label else set())
    families = {c.name: c.family for c in run.stats}
    proxies, proxy_measures = find_proxies(sampled, families, sensitive, exclude, options.proxy_threshold)
    bias["proxies"] = proxies
    for p in proxies:
        bias["warnings"].append(
            f"Column {p['column']} is a proxy for {p['sensitive_column']} (Cramér's V {p['cramers_v']:.2f}): "
            "a model can learn the sensitive attribute from it."
        )
    run.warnings.extend(bias["warnings"])
    return bias, proxy_measures


def _drift_columns(run: _Pass, by_name, pii: dict[str, list[str]]) -> dict[str, dict]:
    """Each column's drift state: sketches and, for numbers and dates, a small sample."""
    options = run.options
    drift_columns = {}
    for c in run.stats:
        numeric_sample = None
        if c.family in ("integer", "float", "datetime") and not (options.redact_pii and c.name in pii):
            numeric_sample = _numeric_sample(by_name, c.name, c.family)
        state = c.drift_state(numeric_sample, max_sample=options.drift_sample_size)
        if options.redact_pii and c.name in pii and "counts" in state:
            # PSI only needs the same key for the same value: keep digests, not e-mail addresses.
            state["counts"] = {digest(k): v for k, v in state["counts"].items()}
            state["hashed"] = True
        drift_columns[c.name] = state
    return drift_columns


def _redact_pii_columns(columns: list[dict], method_columns: dict, pii: dict[str, list[str]]) -> None:
    """The profile is shown to everyone who may see the dataset's page: no personal values in it.
    Counts, nulls and distinct counts stay."""
    for out in columns:
        if out["name"] in pii:
            out["top_values"], out["min"], out["max"] = [], None, None
            if out["type"] in ("integer", "float"):
                out["quantiles"], out["histogram"] = None, None
            method_columns[out["name"]]["redacted"] = "values of a column with personal data are not shown"


def _reading_notes(warnings: list[str], plan: ReadPlan) -> None:
    """What reading changed or skipped, as warnings."""
    warnings.extend(plan.notes)
    if plan.skipped_count:
        warnings.append(
            f"{plan.skipped_count} ragged row(s) were skipped (e.g. {plan.skipped_rows[0]}); the figures leave them out."
        )


METHOD_STATISTICS = {
    "exact": "row and null counts, min, max, mean, std; distinct, top values, quantiles and "
    "histograms while a column has at most exact_distinct_limit distinct values",
    "sketched": "past that limit: KLL quantiles and histogram, HyperLogLog distinct count, "
    "top values as count-min estimates for candidates (frequent values at the "
    "switch, values repeated in the row sample)",
    "sampled": "PII, mixed types, proxy columns and the KS sample use a uniform row sample",
}


def _method(run: _Pass, plan: ReadPlan, sampled: pa.Table | None, *, pass_seconds: float) -> dict[str, Any]:
    """How the profile was made: reader, timings, limits and the types each column was read as."""
    return {
        "reader": plan.reader,
        "format": plan.format,
        "compression": plan.compression,
        "encoding": plan.encoding,
        "pass_seconds": round(pass_seconds, 3),
        "seconds": round(time.perf_counter() - run.started, 3),
        "exact_distinct_limit": run.stats[0].exact_limit if run.stats else run.options.exact_distinct_limit,
        "sample_rows": 0 if sampled is None else sampled.num_rows,
        "sample_size_limit": run.sample_size,
        "skipped_rows": plan.skipped_count,
        "read_types": {
            **{k: str(v) for k, v in plan.column_types.items()},
            **{k: MIXED_JSON for k in sorted(plan.json_python_columns or ())},
        },
    }


def _drop_overflows(run: _Pass, columns: list[dict], bias: dict | None, drift_state: dict) -> None:
    """Numbers past a 64-bit float's range (a mean or a deviation of values near 1e308 overflows) are
    not JSON: they are left empty, and the column says so."""
    for c, out in zip(run.stats, columns, strict=True):
        if c.non_finite:
            out["non_finite_count"] = c.non_finite
        if drop_non_finite(out):
            run.warnings.append(
                f"Column {c.name}: some statistics exceed the range of a 64-bit float and are left empty."
            )
    for part in (bias, drift_state):
        drop_non_finite(part)


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


def _empty_bias(sensitive: list[str], label_column: str | None, positive_label: Any) -> dict:
    return {
        "label_column": label_column,
        "positive_label": positive_label,
        "attributes": {},
        "warnings": ["None of the sensitive columns is in the file."] if not sensitive else [],
        "underrepresented": [],
        "proxies": [],
    }


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
