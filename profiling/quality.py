"""Data quality through Great Expectations 1.x: a dataset version validated against its suite by GX
itself (the suites' own form and the proposed default suite are profiling.expectations).

The job first evaluates the suite in the profiler's own pass (``native_evaluator`` and
``validate_pass``, below; profiling.native_expectations): GX's results from metrics computed on the
batches the profiler streams. What that path declines is validated by GX as follows.

How big files are validated (see docs/quality.md): the file is read in batches (``iter_batches``)
and every batch goes through GX. For column map expectations (not-null, in-set, between, regex...)
GX's per-batch counts are added up and success is decided with GX's own rule (share of
non-missing rows that are not unexpected ≥ ``mostly``), so the answer equals GX on the whole file.
Row counts, column min and max and the table's column set combine exactly too. Any other
expectation (means, medians, and uniqueness or ordering, whose verdict on a row depends on rows
in other batches) is validated by GX on a uniform random sample of at
most ``sample_rows`` rows, and its result says ``"sampled": true``. A file that fits in one batch
is validated whole, exactly as GX reports it.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Imported first: it tells GX to keep quiet before anything imports GX.
from profiling.expectations import build_gx_suite

logger = logging.getLogger(__name__)

# GX validates a suite in time that grows faster than its length: suites are validated in chunks
# of this many, each its own call, which also lets progress move during the quality phase.
CHUNK = 100
# Expectations whose batch results combine exactly without GX's map-count machinery.
_ROW_COUNT = {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
_MIN_MAX = {"expect_column_min_to_be_between": "min", "expect_column_max_to_be_between": "max"}
_SCHEMA_LEVEL = {
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
}
# Map expectations whose per-row verdict depends on other rows: batch counts do not add up.
_NOT_ADDITIVE = {
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_multicolumn_values_to_be_unique",
    "expect_column_values_to_be_increasing",
    "expect_column_values_to_be_decreasing",
}


def gx_version() -> str:
    import great_expectations as gx

    return gx.__version__


@dataclass
class _Acc:
    """What is added up for one expectation across batches."""

    kind: str  # "map" | "row_count" | "minmax" | "schema" | "sampled"
    element_count: int = 0
    missing_count: int | None = None
    unexpected_count: int = 0
    partial: list[Any] = field(default_factory=list)
    value: Any = None
    success: bool | None = None
    observed: Any = None
    error: str | None = None


def _kind(etype: str) -> str:
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.registry import get_expectation_impl

    if etype in _ROW_COUNT:
        return "row_count"
    if etype in _MIN_MAX:
        return "minmax"
    if etype in _SCHEMA_LEVEL:
        return "schema"
    if etype not in _NOT_ADDITIVE and issubclass(get_expectation_impl(etype), ColumnMapExpectation):
        return "map"
    return "sampled"


def _json_safe(v: Any) -> Any:
    """Observed values as plain JSON (numpy scalars, timestamps, NaN)."""
    if v is None or isinstance(v, bool | str | int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_json_safe(x) for x in v]
    item = getattr(v, "item", None)
    if callable(item):
        try:
            return _json_safe(item())
        except (ValueError, TypeError):
            pass
    iso = getattr(v, "isoformat", None)
    if callable(iso):
        return iso()
    return str(v)


def _in_range(x: Any, kwargs: dict[str, Any]) -> bool:
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if x is None:
        return False
    try:
        if lo is not None and (x <= lo if kwargs.get("strict_min") else x < lo):
            return False
        if hi is not None and (x >= hi if kwargs.get("strict_max") else x > hi):
            return False
    except TypeError:
        return False
    return True


class _Validator:
    """One GX ephemeral context with a pandas datasource, reused for every batch of a file."""

    def __init__(self, name: str, expectations: list[dict[str, Any]]) -> None:
        import great_expectations as gx

        self.context = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:  # noqa: S110 - cosmetic only
            pass
        asset = self.context.data_sources.add_pandas("gouvernail").add_dataframe_asset("version")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self.suites = [
            build_gx_suite(f"{name} #{i // CHUNK + 1}" if len(expectations) > CHUNK else name, part)
            for i in range(0, len(expectations), CHUNK)
            for part in [expectations[i : i + CHUNK]]
        ]

    def validate(self, df, progress: Callable[[float], None] | None = None) -> list[dict[str, Any]]:
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": df})
        out = []
        for n, suite in enumerate(self.suites, start=1):
            result = batch.validate(
                suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 10}
            )
            by_config = {}
            for r in result.results:
                d = r.to_json_dict()
                by_config.setdefault(_config_key(d["expectation_config"]), []).append(d)
            # GX reorders results (by domain); hand them back in the suite's order.
            for exp in suite.expectations:
                out.append(by_config[_config_key(exp.configuration.to_json_dict())].pop(0))
            if progress is not None:
                progress(n / len(self.suites))
        return out


def _config_key(cfg: dict[str, Any]) -> str:
    import json

    kwargs = {k: v for k, v in (cfg.get("kwargs") or {}).items() if k != "batch_id"}
    return json.dumps([cfg.get("type"), kwargs], sort_keys=True, default=str)


def _observed(res: dict[str, Any]) -> Any:
    r = res.get("result") or {}
    if "observed_value" in r:
        return _json_safe(r["observed_value"])
    keys = (
        "element_count",
        "missing_count",
        "unexpected_count",
        "unexpected_percent",
        "partial_unexpected_list",
    )
    return _json_safe({k: r[k] for k in keys if k in r})


def _error_of(res: dict[str, Any]) -> str | None:
    """GX's reason when it could not evaluate an expectation (e.g. a missing column), else None.

    GX 1.x writes ``exception_info`` either flat or keyed by the metric that failed.
    """
    info = res.get("exception_info") or {}
    candidates = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for item in candidates:
        if item.get("raised_exception") or item.get("exception_message"):
            msg = str(item.get("exception_message") or "GX could not evaluate this expectation")
            return msg.splitlines()[0][:500]
    if not res.get("success") and not res.get("result") and candidates:
        return "GX could not evaluate this expectation"
    return None


def validate_batches(
    *,
    name: str,
    expectations: list[dict[str, Any]],
    batches: Iterable[Any],
    total_rows: int | None = None,
    sample_rows: int = 1_000_000,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Validate pandas DataFrame batches of one dataset version with GX; combine as the module says.

    Returns the API.md quality object plus ``method``: ``{"success", "score", "results", "method"}``.
    ``score`` is the share of expectations that passed (each expectation weighs the same).
    """
    expectations = list(expectations)
    method: dict[str, Any] = {
        "engine": f"great_expectations {gx_version()}",
        "score": "share of expectations passed",
    }
    if not expectations:
        return {"success": True, "score": 1.0, "results": [], "method": {**method, "mode": "empty suite"}}
    validator = _Validator(name, expectations)
    accs = [_Acc(kind=_kind(e["type"])) for e in expectations]
    seen = _read_batches(
        validator,
        expectations,
        accs,
        batches,
        total_rows=total_rows,
        sample_rows=sample_rows,
        seed=seed,
        progress=progress,
    )
    if seen.whole is not None or seen.batches == 0:
        results = _whole_results(validator, expectations, seen)
        method.update({"mode": "whole", "batches": max(seen.batches, 1), "rows": seen.rows})
    else:
        results = _batched_results(validator, expectations, accs, seen)
        method.update({"mode": "batched", "batches": seen.batches, "rows": seen.rows})
        sampled = [e["type"] for e, acc in zip(expectations, accs, strict=True) if acc.kind == "sampled"]
        if sampled:
            method["sampled_expectations"] = sampled
            method["sample_rows"] = int(sum(len(p) for p in seen.sample_parts))
            method["sample"] = "uniform random rows (Bernoulli per batch, fixed seed)"
    passed = sum(1 for r in results if r["success"])
    return {
        "success": passed == len(results),
        "score": passed / len(results),
        "results": results,
        "method": method,
    }


@dataclass
class _Seen:
    """What one read through the batches gathered."""

    batches: int = 0
    rows: int = 0
    whole: list[dict[str, Any]] | None = None  # GX's own results when the file was one batch
    sample_parts: list[Any] = field(default_factory=list)


def _read_batches(
    validator: _Validator,
    expectations: list[dict[str, Any]],
    accs: list[_Acc],
    batches: Iterable[Any],
    *,
    total_rows: int | None,
    sample_rows: int,
    seed: int,
    progress: Callable[[float], None] | None,
) -> _Seen:
    """Validate each batch and add its results up in ``accs``; keep a uniform sample of the rows for
    the expectations that are not additive. A single batch is left to GX whole."""
    sampling = any(acc.kind == "sampled" for acc in accs)
    rng = random.Random(seed)
    sample_p = 1.0
    if total_rows and total_rows > sample_rows:
        sample_p = sample_rows / total_rows
    seen = _Seen()
    iterator: Iterator[Any] = iter(batches)
    pending = next(iterator, None)
    while pending is not None:
        df = pending
        pending = next(iterator, None)
        seen.batches += 1
        seen.rows += len(df)
        if seen.batches == 1 and pending is None:
            # The whole file is one batch: GX's own answer, nothing combined.
            seen.whole = validator.validate(df, progress)
            break
        _accumulate(accs, expectations, validator.validate(df))
        if sampling:
            if sample_p >= 1.0:
                seen.sample_parts.append(df)
            else:
                seen.sample_parts.append(df.sample(frac=sample_p, random_state=rng.randrange(2**31)))
        if progress and total_rows:
            progress(min(1.0, seen.rows / total_rows))
    return seen


def _whole_results(
    validator: _Validator, expectations: list[dict[str, Any]], seen: _Seen
) -> list[dict[str, Any]]:
    """The results of a file read as one batch (or none: GX on an empty frame)."""
    import pandas as pd

    whole = seen.whole if seen.batches else validator.validate(pd.DataFrame())
    return [_api_result(e, r, sampled=False) for e, r in zip(expectations, whole, strict=True)]


def _batched_results(
    validator: _Validator, expectations: list[dict[str, Any]], accs: list[_Acc], seen: _Seen
) -> list[dict[str, Any]]:
    """Combined results of the additive expectations, GX's results on the sample for the others."""
    import pandas as pd

    sample_results: list[dict[str, Any]] = []
    if any(acc.kind == "sampled" for acc in accs):
        parts = seen.sample_parts
        sample_df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        sample_results = validator.validate(sample_df)
    results = []
    for i, (exp, acc) in enumerate(zip(expectations, accs, strict=True)):
        if acc.kind == "sampled":
            results.append(_api_result(exp, sample_results[i], sampled=True))
        else:
            results.append(_combined_result(exp, acc))
    return results


def _api_result(exp: dict[str, Any], res: dict[str, Any], *, sampled: bool) -> dict[str, Any]:
    error = _error_of(res)
    out = {
        "expectation": exp["type"],
        "column": exp["kwargs"].get("column"),
        "kwargs": exp["kwargs"],
        "success": bool(res.get("success")) and error is None,
        "observed": _observed(res) if error is None else {"error": error},
    }
    if sampled:
        out["sampled"] = True
    return out


def _accumulate(accs: list[_Acc], expectations: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    for acc, exp, res in zip(accs, expectations, results, strict=True):
        if acc.error:
            continue
        error = _error_of(res)
        if error is not None:
            acc.error = error
            continue
        r = res.get("result") or {}
        if acc.kind == "map":
            acc.element_count += int(r.get("element_count") or 0)
            acc.unexpected_count += int(r.get("unexpected_count") or 0)
            if "missing_count" in r:
                acc.missing_count = (acc.missing_count or 0) + int(r.get("missing_count") or 0)
            room = 10 - len(acc.partial)
            if room > 0:
                acc.partial.extend(_json_safe(r.get("partial_unexpected_list") or [])[:room])
        elif acc.kind == "row_count":
            acc.value = (acc.value or 0) + int(r.get("observed_value") or 0)
        elif acc.kind == "minmax":
            v = r.get("observed_value")
            if v is not None:
                pick = min if _MIN_MAX[exp["type"]] == "min" else max
                try:
                    acc.value = v if acc.value is None else pick(acc.value, v)
                except TypeError:
                    acc.error = "values of different types in different batches"
        elif acc.kind == "schema":
            # The same columns in every batch: the first batch's answer is the file's.
            if acc.success is None:
                acc.success = bool(res.get("success"))
                acc.observed = _observed(res)


def _combined_result(exp: dict[str, Any], acc: _Acc) -> dict[str, Any]:
    kwargs = exp["kwargs"]
    base = {"expectation": exp["type"], "column": kwargs.get("column"), "kwargs": kwargs}
    if acc.error:
        return {**base, "success": False, "observed": {"error": acc.error}}
    if acc.kind == "map":
        considered = acc.element_count - (acc.missing_count or 0)
        mostly = kwargs.get("mostly", 1.0)
        if acc.element_count == 0 or considered == 0:
            success = True  # GX: vacuously true
        else:
            success = (considered - acc.unexpected_count) / considered >= mostly
        observed = {"element_count": acc.element_count}
        if acc.missing_count is not None:
            observed["missing_count"] = acc.missing_count
        observed["unexpected_count"] = acc.unexpected_count
        observed["unexpected_percent"] = (acc.unexpected_count / considered * 100) if considered else None
        observed["partial_unexpected_list"] = acc.partial
        return {**base, "success": success, "observed": observed}
    if acc.kind == "row_count":
        if exp["type"] == "expect_table_row_count_to_equal":
            success = acc.value == kwargs.get("value")
        else:
            success = _in_range(acc.value, kwargs)
        return {**base, "success": success, "observed": acc.value}
    if acc.kind == "minmax":
        value = _json_safe(acc.value)
        return {**base, "success": _in_range(acc.value, kwargs), "observed": value}
    return {**base, "success": bool(acc.success), "observed": acc.observed}


def validate_file(
    *,
    name: str,
    expectations: list[dict[str, Any]],
    path: str | None = None,
    format: str = "",  # noqa: A002 - the engine's own keyword
    location: Any = None,
    compression: str = "",
    encoding: str = "utf-8",
    total_rows: int | None = None,
    batch_rows: int = 1_000_000,
    sample_rows: int = 1_000_000,
    available: list[str] | None = None,
    progress: Callable[[float], None] | None = None,
    max_json_depth: int | None = None,
) -> dict[str, Any]:
    """Validate a stored file with GX, reading it in batches through the profiling engine.

    The data is ``path`` (a file on this machine's disk, read as ``format``), or ``location`` (a
    ``profiling.engine.Location``: an object read in place, a partitioned dataset, a table), read
    the same way the profile read it. The quality runner that the profile job and
    bench/profile_bench.py call.
    """
    from profiling.engine import iter_batches

    # Read only the columns the suite needs, when the file's columns are known (``available``,
    # from the profile): a column the file lacks is left out of the read and GX reports it missing.
    columns = _columns_used(expectations) if available is not None else None
    if columns is not None:
        columns = [c for c in columns if c in set(available or ())] or None
    batches = _rechunk(
        iter_batches(
            location if location is not None else path,
            format=format,
            compression=compression,
            encoding=encoding or "utf-8",
            batch_rows=min(batch_rows, 65_536),
            columns=columns,
            **({"max_json_depth": max_json_depth} if max_json_depth else {}),
        ),
        batch_rows=batch_rows,
    )
    return validate_batches(
        name=name,
        expectations=expectations,
        batches=batches,
        total_rows=total_rows,
        sample_rows=sample_rows,
        progress=progress,
    )


def _rechunk(record_batches: Iterator[Any], *, batch_rows: int, max_cells: int = 30_000_000) -> Iterator[Any]:
    """pandas DataFrames of up to ``batch_rows`` rows from the reader's small Arrow batches.

    GX costs a fixed overhead per validation, so it gets few large frames; ``max_cells`` bounds a
    frame's size for very wide files (memory stays flat however long the file is).
    """
    import pyarrow as pa

    pending: list[Any] = []
    rows = 0
    limit = batch_rows
    for rb in record_batches:
        if not pending and rb.num_columns:
            limit = max(1, min(batch_rows, max_cells // rb.num_columns))
        pending.append(rb)
        rows += rb.num_rows
        if rows >= limit:
            yield pa.Table.from_batches(pending).to_pandas()
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending).to_pandas()


def _columns_used(expectations: list[dict[str, Any]]) -> list[str] | None:
    """The columns a suite needs, or None (all) when any expectation looks at the whole table."""
    cols: list[str] = []
    for exp in expectations:
        kw = exp.get("kwargs") or {}
        if exp["type"].startswith("expect_table_") or exp["type"] == "expect_column_to_exist":
            return None
        found = False
        for key in ("column", "column_A", "column_B"):
            if isinstance(kw.get(key), str):
                cols.append(kw[key])
                found = True
        if isinstance(kw.get("column_list"), list):
            cols.extend(str(c) for c in kw["column_list"])
            found = True
        if not found:
            return None
    return list(dict.fromkeys(cols)) or None


# ---------------------------------------------------------------------------------------------
# The native path: the suite evaluated in the profiler's pass, GX for what it declines


def preload() -> None:
    """Import GX, the engine and the native evaluator, and read one expectation of each common kind
    through GX (its registries fill on first use): what a worker does once before it forks."""
    import profiling.engine  # noqa: F401
    from profiling.native_expectations import make_plans

    column = {"column": "c"}
    make_plans(
        [
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["c"]}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": column},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {**column, "value_set": ["a"]}},
            {"type": "expect_column_values_to_be_between", "kwargs": {**column, "min_value": 0}},
        ]
    )


def native_evaluator(expectations: list[dict[str, Any]] | None):
    """The evaluator to hand to ``profile_file(batch_consumers=[...])`` for a suite known before the
    pass (None or [] when it will be proposed from the profile: it then watches the columns only)."""
    from profiling.native_expectations import NativeEvaluator

    return NativeEvaluator(list(expectations or []))


def validate_pass(
    *, name: str, expectations: list[dict[str, Any]], evaluator, profile, **gx_file: Any
) -> dict[str, Any]:
    """Validate the suite with what ``evaluator`` gathered in the profile's pass: natively where the
    result equals GX's (profiling.native_expectations, .native_facts), and by ``validate_file(**gx_file)``
    (GX reads the file again) for the expectations declined. Same result shape as validate_batches."""
    from profiling.native_facts import evaluate_from_profile

    expectations = list(expectations)
    if not expectations:
        return validate_batches(name=name, expectations=[], batches=[])
    if evaluator.expectations == expectations:
        native, declined = evaluator.results(), evaluator.declined
    else:  # proposed after the pass, or changed meanwhile: what the pass's figures decide
        native, declined = evaluate_from_profile(expectations, evaluator, profile)
    evaluator.release()
    rest = [i for i in range(len(expectations)) if i not in native]
    gx = None
    if rest:
        gx = validate_file(name=name, expectations=[expectations[i] for i in rest], **gx_file)
    by_gx = dict(zip(rest, gx["results"] if gx else [], strict=True))
    results = [
        by_gx[i] if i in by_gx else _api_result(exp, native[i], sampled=False)
        for i, exp in enumerate(expectations)
    ]
    method: dict[str, Any] = {
        "engine": f"gouvernail native + great_expectations {gx_version()}",
        "score": "share of expectations passed",
        "mode": "native" if gx is None else "native + GX",
        "native": len(native),
        "rows": evaluator.rows,
    }
    if gx is not None:
        method["gx"] = {**gx["method"], "expectations": len(rest)}
        method["declined"] = {expectations[i]["type"]: declined.get(i, "") for i in rest}
    passed = sum(1 for r in results if r["success"])
    return {
        "success": passed == len(results),
        "score": passed / len(results),
        "results": results,
        "method": method,
    }
