"""Native evaluation of a Great Expectations suite in the profiler's streaming pass.

``NativeEvaluator(expectations)`` is handed to ``profile_file(batch_consumers=[...])``: it sees the
same Arrow record batches as the statistics (the file is read once) and keeps, per expectation, the
metrics GX's pandas engine would compute (profiling.native_metrics). At the end GX itself turns
those metrics into each result: ``expectation._validate(metrics)``, the very code GX runs after
computing them, so success, ``mostly``, percentages and the result's shape are GX's own.

An expectation whose metrics cannot be computed with GX's exact answer here (a type not covered, a
column past the memory kept for whole columns, a column the file lacks) is *declined*, and
profiling.quality validates it with GX as before. ``merge(other)`` adds the state of the rows that
follow (a version read in parts), so parts evaluated apart give the answer of one pass.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from profiling.native_metrics import (
    CONDITIONS,
    KEEP_BYTES,
    Budget,
    ColumnInfo,
    KeptColumn,
    MapState,
    MinMaxState,
    NonNullState,
    NullState,
    Unsupported,
    make_condition,
)

logger = logging.getLogger(__name__)

# What profiling.quality asks GX for; the native results are made with the same.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 10}
COUNT, VALUES = ".unexpected_count", ".unexpected_values"
TABLE_METRICS = {"table.row_count", "table.columns", "table.column_count"}
# Metrics pandas computes over the whole column at once, and GX's expression for each.
WHOLE_COLUMN = {
    "column.mean": lambda s, kw: s.mean(),
    "column.median": lambda s, kw: s[~s.isnull()].median(),
    "column.standard_deviation": lambda s, kw: s.std(),
    "column.sum": lambda s, kw: s.sum(),
    "column.quantile_values": lambda s, kw: s.quantile(
        kw["quantiles"], interpolation=kw.get("allow_relative_error") or "nearest"
    ).tolist(),
    "column.distinct_values.count": lambda s, kw: s.nunique(),
}
TYPE_EXPECTATIONS = {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"}


def _engine():
    from great_expectations.execution_engine import PandasExecutionEngine

    global _ENGINE
    if _ENGINE is None:
        _ENGINE = PandasExecutionEngine()
    return _ENGINE


_ENGINE = None


@dataclass
class Plan:
    """One expectation: GX's object and the metrics its ``_validate`` reads (name → configuration)."""

    index: int
    gx: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    result_format: dict[str, Any] = field(default_factory=dict)
    column: str | None = None
    declined: str | None = None


def make_plans(expectations: list[dict[str, Any]]) -> list[Plan]:
    """GX's own reading of each expectation and of the metrics it needs; declined when GX cannot say.

    A worker validates the same suites again and again and GX takes milliseconds to read each
    expectation: the readings are kept (nothing changes them afterwards)."""
    plans = []
    for i, exp in enumerate(expectations):
        key = _key(exp.get("type"), exp.get("kwargs") or {}, exp.get("meta") or {})
        template = _PLANS.get(key)
        if template is None:
            template = _plan(exp)
            if len(_PLANS) >= PLAN_CACHE:
                _PLANS.pop(next(iter(_PLANS)))
            _PLANS[key] = template
        plans.append(dataclasses.replace(template, index=i))
    return plans


PLAN_CACHE = 4096
_PLANS: dict[str, Plan] = {}


def _plan(exp: dict[str, Any]) -> Plan:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    kwargs = exp.get("kwargs") or {}
    try:
        gx = ExpectationConfiguration(
            type=exp["type"], kwargs=kwargs, meta=exp.get("meta") or {}
        ).to_domain_obj()
    except Exception as exc:  # noqa: BLE001 - GX reports it the same way when it validates
        return Plan(index=0, gx=None, declined=f"GX cannot read it: {exc.__class__.__name__}")
    column = kwargs.get("column")
    plan = Plan(index=0, gx=gx, column=column if isinstance(column, str) else None)
    if kwargs.get("row_condition"):
        plan.declined = "row conditions are GX's"
    elif exp["type"] in TYPE_EXPECTATIONS:
        plan.result_format = dict(RESULT_FORMAT)
    else:
        _dependencies(plan)
    return plan


def _dependencies(plan: Plan) -> None:
    try:
        deps = plan.gx.get_validation_dependencies(
            execution_engine=_engine(), runtime_configuration={"result_format": dict(RESULT_FORMAT)}
        )
    except Exception as exc:  # noqa: BLE001 - some need data to say (GX then validates them)
        plan.declined = f"dependencies: {exc.__class__.__name__}"
        return
    plan.metrics = dict(deps.metric_configurations)
    plan.result_format = deps.result_format
    unknown = [n for n in plan.metrics if not _known(n)]
    if unknown:
        plan.declined = f"no native {unknown[0]}"


def _known(name: str) -> bool:
    if name in TABLE_METRICS or name in WHOLE_COLUMN:
        return True
    if name in ("column.min", "column.max", "column.unique_proportion", "column.non_null_proportion"):
        return True
    for suffix in (COUNT, VALUES):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            return base in CONDITIONS or base in (
                "column_values.nonnull",
                "column_values.null",
                "column_values.unique",
            )
    return False


def value_kwargs(config: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(config.metric_value_kwargs or {}).items() if k != "result_format"}


def _key(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, default=repr)


class NativeEvaluator:
    """Streams record batches into the metrics of a suite's expectations (see the module)."""

    def __init__(
        self, expectations: list[dict[str, Any]] | None = None, *, keep_bytes: int = KEEP_BYTES
    ) -> None:
        self.expectations = list(expectations or [])
        self.keep_bytes = keep_bytes
        self.plans = make_plans(self.expectations)
        self.reset()

    def reset(self) -> None:
        """Forget every batch (the profiler restarts its pass when a column's type is widened)."""
        self.names: list[str] | None = None
        self.rows = 0
        self.batches = 0
        self.infos: dict[str, ColumnInfo] = {}
        self.states: dict[str, Any] = {}
        self.by_column: dict[str, list[Any]] = {}
        self.budget = Budget(self.keep_bytes)
        self.failed: str | None = None
        self.declined: dict[int, str] = {p.index: p.declined for p in self.plans if p.declined}

    # ------------------------------------------------------------------ binding to the schema
    def _bind(self, schema: pa.Schema) -> None:
        self.names = list(schema.names)
        self.infos = {f.name: ColumnInfo(f.name, f.type) for f in schema}
        for plan in self.plans:
            if plan.index in self.declined:
                continue
            try:
                for name, config in plan.metrics.items():
                    self._state_for(plan, name, config)
                if plan.gx is not None and plan.gx.expectation_type in TYPE_EXPECTATIONS:
                    self.column_info(plan.column)
            except Unsupported as exc:
                self.declined[plan.index] = str(exc)
        self.by_column = {}
        for key, state in self.states.items():
            self.by_column.setdefault(json.loads(key)[1], []).append(state)

    def column_info(self, column: str | None) -> ColumnInfo:
        if column is None or column not in self.infos:
            raise Unsupported("the column is not in the file (GX reports it)")
        return self.infos[column]

    def _state_for(self, plan: Plan, name: str, config: Any) -> Any:
        """The state that computes metric ``name`` of ``plan`` (shared by equal metrics)."""
        if name in TABLE_METRICS:
            return None
        info = self.column_info(config.metric_domain_kwargs.get("column"))
        if name in ("column.min", "column.max"):
            key, make = _key("minmax", info.name), lambda: MinMaxState(info)
        elif name in ("column.non_null_proportion",):
            return None
        elif name.startswith("column.") or name.startswith("column_values.unique."):
            if name in WHOLE_COLUMN or name == "column.unique_proportion":
                if info.kind not in ("int", "float"):
                    raise Unsupported(f"{name}: numbers only")
            key, make = _key("kept", info.name), lambda: KeptColumn(info, self.budget)
        else:
            base = name[: -len(COUNT)] if name.endswith(COUNT) else name[: -len(VALUES)]
            key, make = self._map_state(base, info, value_kwargs(config))
        if key not in self.states:
            self.states[key] = make()
        return self.states[key]

    def _map_state(self, base: str, info: ColumnInfo, kwargs: dict[str, Any]):
        if base == "column_values.nonnull":
            return _key("nonnull", info.name), lambda: NonNullState(info)
        if base == "column_values.null":
            return _key("null", info.name), lambda: NullState(info)
        condition = make_condition(base, info.kind, kwargs)
        return _key("map", info.name, base, kwargs), lambda: MapState(info, condition)

    # ------------------------------------------------------------------ the pass
    def consume(self, batch: pa.RecordBatch) -> None:
        """One record batch of the file (the profiler calls this for each, in row order). A failure
        here never fails the profile: every expectation then goes to GX."""
        if self.failed:
            return
        try:
            self._consume(batch)
        except Exception as exc:  # noqa: BLE001 - GX validates the suite instead
            logger.warning("native evaluation stopped; GX validates the suite", exc_info=True)
            self.failed = f"{exc.__class__.__name__}: {str(exc)[:200]}"

    def _consume(self, batch: pa.RecordBatch) -> None:
        if self.names is None:
            self._bind(batch.schema)
        elif batch.schema.names != self.names:
            raise ValueError("the columns changed between batches")
        self.rows += batch.num_rows
        self.batches += 1
        for i, name in enumerate(self.names):
            info = self.infos[name]
            arr = batch.column(i)
            states = self.by_column.get(name)
            valid = info.split(arr, values=bool(states))
            for state in states or ():
                state.update(arr if isinstance(state, KeptColumn) else valid)

    def merge(self, other: NativeEvaluator) -> None:
        """Add the state of ``other``, the rows that follow this evaluator's (a later part)."""
        if other.failed or self.failed:
            self.failed = self.failed or other.failed
            return
        if other.expectations != self.expectations:  # the suite changed while the parts were read
            self.failed = "the parts were evaluated against different suites"
            return
        if other.names is None:
            return
        if self.names is None:
            self._bind(pa.schema([pa.field(n, other.infos[n].type) for n in other.names]))
        if other.names != self.names:
            raise ValueError("parts with different columns cannot be merged")
        differ = [n for n in self.names if self.infos[n].type != other.infos[n].type]
        if differ:  # parts read with other types: nothing native is GX's answer on the whole
            self.failed = f"the parts were read with different types for column {differ[0]}"
            return
        self.rows += other.rows
        self.batches += other.batches
        for name, info in other.infos.items():
            self.infos[name].merge(info)
        for key, state in other.states.items():
            self.states[key].merge(state)
        for index, reason in other.declined.items():
            self.declined.setdefault(index, reason)

    def release(self) -> None:
        """Let go of the kept columns and other states once the results are out (GX may then read
        the file again for what was declined: the two must not add up in memory)."""
        self.states, self.by_column = {}, {}
        self.budget = Budget(self.keep_bytes)

    # ------------------------------------------------------------------ results
    def metric(self, plan: Plan, name: str, config: Any) -> Any:
        """The value of metric ``name`` as GX would compute it on the whole file."""
        if name == "table.row_count":
            return self.rows
        if name == "table.columns":
            return list(self.names or [])
        if name == "table.column_count":
            return len(self.names or [])
        info = self.column_info(config.metric_domain_kwargs.get("column"))
        if name == "column.non_null_proportion":
            return (info.rows - info.missing) / info.rows if info.rows else 0
        state = self._state_for(plan, name, config)
        return metric_of_state(state, name, info, value_kwargs(config))

    def results(self) -> dict[int, dict[str, Any]]:
        """GX's result (``ExpectationValidationResult.to_json_dict()``) of each expectation done
        natively, by its index in the suite; the declined ones are in ``self.declined``."""
        if self.names is None or self.failed:
            for plan in self.plans:
                self.declined.setdefault(plan.index, self.failed or "no batch was read")
            return {}
        return evaluate(self.plans, self.metric, self.declined, self.infos, done=self._readers())

    def _readers(self) -> Callable[[Plan], None]:
        """A callback for ``evaluate``: after each expectation, drop the whole columns that no
        later one reads (a suite of several columns never holds them all as pandas columns)."""
        readers: dict[int, set[int]] = {}  # id of a KeptColumn → indexes of the plans that read it
        kept: dict[int, KeptColumn] = {}
        for plan in self.plans:
            if plan.index in self.declined:
                continue
            for name, config in plan.metrics.items():
                try:
                    state = self._state_for(plan, name, config)
                except Unsupported:
                    continue
                if isinstance(state, KeptColumn):
                    kept[id(state)] = state
                    readers.setdefault(id(state), set()).add(plan.index)

        def done(plan: Plan) -> None:
            for key, indexes in readers.items():
                indexes.discard(plan.index)
                if not indexes and key in kept:
                    kept.pop(key).drop()

        return done


def metric_of_state(state: Any, name: str, info: ColumnInfo, kwargs: dict[str, Any]) -> Any:
    if isinstance(state, MinMaxState):
        return state.value("min" if name == "column.min" else "max")
    if isinstance(state, KeptColumn):
        if name.startswith("column_values.unique."):
            count, values = state.unique()
            return count if name.endswith(COUNT) else values
        if name == "column.unique_proportion":
            present = info.rows - info.missing
            return state.series().nunique() / present if info.rows and present else 0
        return WHOLE_COLUMN[name](state.series(), kwargs)
    if isinstance(state, NonNullState):
        return state.count if name.endswith(COUNT) else state.values()
    if isinstance(state, MapState):
        return state.unexpected if name.endswith(COUNT) else state.values()
    raise Unsupported(f"no state for {name}")


def evaluate(
    plans: list[Plan],
    metric,
    declined: dict[int, str],
    infos: dict[str, ColumnInfo],
    *,
    done: Callable[[Plan], None] | None = None,
) -> dict[int, dict]:
    """GX's results from metrics: ``metric(plan, name, config)`` gives each value or raises
    Unsupported (the expectation is then declined); ``done(plan)`` after each one."""
    out: dict[int, dict[str, Any]] = {}
    for plan in plans:
        if plan.index in declined or plan.gx is None:
            continue
        try:
            out_one = _evaluate_one(plan, metric, declined, infos)
        finally:
            if done is not None:
                done(plan)
        if out_one is not None:
            out[plan.index] = out_one
    return out


def _evaluate_one(plan: Plan, metric, declined: dict[int, str], infos: dict[str, ColumnInfo]) -> dict | None:
    """One expectation's GX result, or None when it is declined (the reason in ``declined``)."""
    try:
        if plan.gx.expectation_type in TYPE_EXPECTATIONS:
            raw = _type_result(plan, infos)
        else:
            metrics = {name: metric(plan, name, config) for name, config in plan.metrics.items()}
            raw = plan.gx._validate(
                metrics=metrics,
                runtime_configuration={"result_format": plan.result_format},
                execution_engine=_engine(),
            )
        return plan.gx._build_evr(raw_response=raw).to_json_dict()
    except Unsupported as exc:
        declined[plan.index] = str(exc)
    except Exception as exc:  # noqa: BLE001 - GX itself will say what is wrong
        logger.debug("native evaluation of %s declined", plan.gx.expectation_type, exc_info=True)
        declined[plan.index] = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    return None


def _type_result(plan: Plan, infos: dict[str, ColumnInfo]) -> dict[str, Any]:
    """Of-type and in-type-list compare the column's pandas dtype (GX checks values one by one
    only for object columns: those are GX's)."""
    if plan.column not in infos:
        raise Unsupported("the column is not in the file (GX reports it)")
    info = infos[plan.column]
    sample = pa.nulls(1, info.type) if info.nulls else pa.array([], type=info.type)
    dtype = sample.to_pandas().dtype
    if dtype.type.__name__ == "object_":
        raise Unsupported("object columns are checked value by value by GX")
    kwargs = plan.gx.configuration.kwargs
    if plan.gx.expectation_type == "expect_column_values_to_be_of_type":
        return plan.gx._validate_pandas(actual_column_type=dtype, expected_type=kwargs.get("type_"))
    return plan.gx._validate_pandas(actual_column_type=dtype, expected_types_list=kwargs.get("type_list"))
