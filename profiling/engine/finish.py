"""``finish``: every figure of the profile from a PassState that covers the whole file (one pass,
or the merged states of its parts).

Column statistics come from the column accumulators (columns.py); PII detection, mixed-type checks
and proxy columns work on the row sample; drift keeps sketches and a small sample for a later
comparison (drift.py).
"""

import math
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profiling.engine.bias import find_proxies
from profiling.engine.columns import ColumnStats
from profiling.engine.drift import STATE_VERSION, digest
from profiling.engine.pii import detect as detect_pii
from profiling.engine.pii import numbers_worth_a_check
from profiling.engine.read_plan import MIXED_JSON, NO_DATES, ReadPlan
from profiling.engine.spec import types_from_text
from profiling.engine.state import PassState
from profiling.engine.types import ProfileError, ProfileResult

CATEGORICAL_MAX = 100  # a text column with at most this many distinct values (and repeats) is categorical
NUMBER_TEXT = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


def finish(state: PassState) -> ProfileResult:
    """The profile from the state of a pass over every cell of the file (``merge_states`` of its
    parts, or ``profile_part`` of all of it); ProfileError when cells are missing."""
    started = time.perf_counter()
    spec = state.spec
    missing = sorted(set(range(len(spec.cells))) - set(state.cells))
    if missing:
        raise ProfileError(f"The profile is missing {len(missing)} of the file's {len(spec.cells)} parts.")
    plan = spec.plan()
    reading = state.reading
    plan.reader = reading.get("reader", "")
    plan.notes = list(reading.get("notes", []))
    plan.skipped_count = reading.get("skipped_count", 0)
    plan.skipped_rows = list(reading.get("skipped_rows", []))
    plan.source_notes = dict(reading.get("source_notes", {}))
    result = _no_schema_result(state, plan) if state.stats is None else _result(state, plan)
    _restart_warnings(result, spec.retypes, plan)
    _where(result, plan)
    result.method["seconds"] = round(state.pass_seconds + time.perf_counter() - started, 3)
    return result


def _where(result: ProfileResult, plan: ReadPlan) -> None:
    """Where the data was read, when not from a file on this machine's disk, and what reading it
    there changed (a table sample, columns cast), in the method and the warnings."""
    location = plan.location
    if location is None or location.kind == "file":
        return
    result.method["location"] = {**location.describe(), **plan.source_notes}
    result.warnings.extend(w for w in location.warnings if w not in result.warnings)


def _restart_warnings(result: ProfileResult, retypes: list[dict], plan: ReadPlan) -> None:
    """What the restarts (a column read again with a wider type) say about the data."""
    result.method["restarts"] = [r["reason"] for r in retypes]
    for retype in retypes:
        name = retype["column"]
        if name.startswith(NO_DATES):
            name = name[len(NO_DATES) :]
        elif name.startswith("\x00") or not name:
            continue  # bigger blocks, a renamed header...: nothing about the data
        elif _is_uint64(retype):
            continue  # an id past 2**63 after smaller ones: still integers, nothing mixed
        result.warnings.append(
            f"Column {name} mixes kinds of values ({retype['reason']}); it was read as {_read_as(plan, name)}."
        )


def _is_uint64(retype: dict) -> bool:
    t = types_from_text(retype.get("new_type")).get("t") if retype.get("new_type") else None
    return t is not None and pa.types.is_uint64(t)


def _read_as(plan: ReadPlan, name: str) -> str:
    t = plan.column_types.get(name)
    if t is None or pa.types.is_string(t):
        return "text"
    return "numbers" if (pa.types.is_floating(t) or pa.types.is_integer(t)) else str(t)


def _result(run: PassState, plan: ReadPlan) -> ProfileResult:
    """Every figure derived from what the pass gathered."""
    options = run.options
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
    method = _method(run, plan, sampled)
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


def _no_schema_result(run: PassState, plan: ReadPlan) -> ProfileResult:
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
        method={"reader": plan.reader},
    )


def _finish_columns(run: PassState, plan: ReadPlan, by_name) -> tuple[list[dict], dict, dict, dict]:
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


def _column_warnings(run: PassState, c: ColumnStats, non_null: int) -> None:
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
    run: PassState, plan: ReadPlan, c: ColumnStats, out: dict, values: pa.Array, non_null: int
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


def _bias(run: PassState, sampled: pa.Table | None) -> tuple[dict | None, dict]:
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


def _drift_columns(run: PassState, by_name, pii: dict[str, list[str]]) -> dict[str, dict]:
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


def _method(run: PassState, plan: ReadPlan, sampled: pa.Table | None) -> dict[str, Any]:
    """How the profile was made: reader, timings, limits and the types each column was read as."""
    return {
        "reader": plan.reader,
        "format": plan.format,
        "compression": plan.compression,
        "encoding": plan.encoding,
        "pass_seconds": round(run.pass_seconds, 3),
        "parts": run.parts,
        "cells": len(run.spec.cells),
        "exact_distinct_limit": run.stats[0].exact_limit if run.stats else run.options.exact_distinct_limit,
        "sample_rows": 0 if sampled is None else sampled.num_rows,
        "sample_size_limit": run.sample_size,
        "skipped_rows": plan.skipped_count,
        "read_types": {
            **{k: str(v) for k, v in plan.column_types.items()},
            **{k: MIXED_JSON for k in sorted(plan.json_python_columns or ())},
        },
    }


def _drop_overflows(run: PassState, columns: list[dict], bias: dict | None, drift_state: dict) -> None:
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
