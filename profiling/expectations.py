"""Expectation suites in Great Expectations' own form: checking what people send against GX's
registry, reading a suite GX exported, building GX's suite object, and the default suite proposed
from a first profile. Pure functions: storing a suite is profiling.suites, validating a file
against one is profiling.quality.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from django.core.exceptions import ValidationError

# GX phones home and draws progress bars unless told not to; a worker wants neither. Set before
# any module imports GX (profiling.quality imports this module first).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# GX logs its plugin registry at INFO on import; that drowns a worker's log.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

logger = logging.getLogger(__name__)

SUITE_KEYS = ("type", "kwargs", "meta")
# Row conditions reach pandas' query()/eval() on the worker: not a sandbox, so not from the API.
REFUSED_KWARGS = ("row_condition", "condition_parser")
MAX_EXPECTATIONS = 500
VALUE_SET_MAX_DISTINCT = 20
# A proposal stops at this many expectations: a very wide table would get thousands.
MAX_PROPOSED = 600
NUMERIC_TYPES = {"integer", "int", "float", "double", "number", "numeric", "decimal"}


# ---------------------------------------------------------------------------------------------
# Suites: validation of what people send, import of GX exports


def _gx_error_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = []
            for err in errors():
                loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
            # pydantic lists every union member it tried; one line per distinct message is enough.
            return "; ".join(dict.fromkeys(parts))
        except Exception:  # noqa: S110 - fall back to the plain text below
            pass
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def normalize_expectations(raw: Any, *, field_name: str = "expectations") -> list[dict[str, Any]]:
    """Check a list of expectations against GX's registry and its own argument validation.

    Returns them in the stored form ``{"type", "kwargs", "meta"}``. An unknown type or bad kwargs
    raise ValidationError naming the expectation (→ 400).
    """
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.registry import get_expectation_impl

    if not isinstance(raw, list):
        raise ValidationError({field_name: ["A list of expectations ({type, kwargs, meta})."]})
    if len(raw) > MAX_EXPECTATIONS:
        raise ValidationError({field_name: [f"At most {MAX_EXPECTATIONS} expectations."]})
    out: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(raw):
        key = f"{field_name}[{i}]"
        if not isinstance(item, dict):
            errors[key] = ["An object with 'type' and 'kwargs'."]
            continue
        # GX 0.x exports said "expectation_type"; accept it so old exports still import.
        etype = item.get("type", item.get("expectation_type"))
        kwargs = item.get("kwargs", {})
        meta = item.get("meta") or {}
        if not isinstance(etype, str) or not etype:
            errors[key] = ["'type' is required (a Great Expectations expectation type)."]
            continue
        if not isinstance(kwargs, dict) or not isinstance(meta, dict):
            errors[key] = ["'kwargs' and 'meta' must be objects."]
            continue
        try:
            get_expectation_impl(etype)
        except ExpectationNotFoundError:
            errors[key] = [f"Unknown expectation type '{etype[:100]}' (not in Great Expectations' registry)."]
            continue
        kwargs = {k: v for k, v in kwargs.items() if k != "batch_id"}
        refused = [k for k in REFUSED_KWARGS if kwargs.get(k)]
        if refused:
            errors[key] = [
                f"{etype}: '{refused[0]}' is not accepted: Great Expectations evaluates row conditions with "
                "pandas' DataFrame.query(), which would run text sent to the API on the workers."
            ]
            continue
        try:
            ExpectationConfiguration(type=etype, kwargs=kwargs, meta=meta).to_domain_obj()
        except Exception as exc:  # noqa: BLE001 - GX raises pydantic and its own errors alike
            errors[key] = [f"{etype}: {_gx_error_text(exc)}"]
            continue
        out.append({"type": etype, "kwargs": kwargs, "meta": meta})
    if errors:
        raise ValidationError(errors)
    return out


def parse_gx_export(data: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """(name, expectations, meta) from a suite JSON that GX exported (``suite.to_json_dict()``)."""
    if not isinstance(data, dict):
        raise ValidationError({"suite": ["A Great Expectations suite JSON object."]})
    name = data.get("name", data.get("expectation_suite_name"))
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise ValidationError({"name": ["A string of at most 255 characters."]})
    if "expectations" not in data:
        raise ValidationError({"expectations": ["A GX suite export has an 'expectations' list."]})
    expectations = normalize_expectations(data["expectations"])
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValidationError({"meta": ["An object."]})
    return name or "", expectations, meta


def build_gx_suite(name: str, expectations: list[dict[str, Any]]):
    """A GX ExpectationSuite object from stored expectations (not saved in any context)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=name or "suite")
    for exp in expectations:
        suite.add_expectation(
            ExpectationConfiguration(
                type=exp["type"], kwargs=exp.get("kwargs", {}), meta=exp.get("meta") or {}
            ).to_domain_obj()
        )
    return suite


# ---------------------------------------------------------------------------------------------
# The default suite proposed from a first profile


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def propose_expectations(*, columns: list[dict[str, Any]], row_count: int | None) -> list[dict[str, Any]]:
    """A starting suite from a profile's columns, for stewards to edit.

    The table's columns as a set; per column: not-null where the profile saw no nulls, a value set
    where there were at most 20 distinct values (all listed in top values), and a range for
    numeric columns. Each carries ``meta.proposed_by`` so that stewards see where it came from.
    """
    meta = {"proposed_by": "gouvernail profile"}
    out: list[dict[str, Any]] = []
    names = [c["name"] for c in columns if c.get("name") is not None]
    if names:
        out.append(
            {
                "type": "expect_table_columns_to_match_set",
                "kwargs": {"column_set": names, "exact_match": True},
                "meta": dict(meta),
            }
        )
    for col in columns:
        name = col.get("name")
        if name is None:
            continue
        if row_count and col.get("null_count") == 0:
            out.append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": name},
                    "meta": dict(meta),
                }
            )
        distinct = col.get("distinct_count")
        top = [t.get("value") for t in (col.get("top_values") or []) if t.get("value") is not None]
        ctype = str(col.get("type") or "").lower()
        if distinct and distinct <= VALUE_SET_MAX_DISTINCT and len(top) >= distinct and ctype != "float":
            value_set = sorted(top, key=lambda v: (str(type(v)), v))
            out.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": name, "value_set": value_set},
                    "meta": dict(meta),
                }
            )
        elif (
            _is_number(col.get("min"))
            and _is_number(col.get("max"))
            and (ctype in NUMERIC_TYPES or not ctype)
        ):
            out.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": name, "min_value": col["min"], "max_value": col["max"]},
                    "meta": dict(meta),
                }
            )
    # Keep only what GX accepts: a profile of odd data must not make an unusable suite.
    kept = []
    for exp in out:
        try:
            kept.extend(normalize_expectations([exp]))
        except ValidationError:
            logger.info("dropped proposed expectation %s", exp["type"])
    if len(kept) > MAX_PROPOSED:
        # Whole columns only: the table's column set first, then each column's checks in file order.
        cut = MAX_PROPOSED
        column = [e["kwargs"].get("column") for e in kept]
        while cut > 1 and column[cut] is not None and column[cut - 1] == column[cut]:
            cut -= 1
        covered = len({c for c in column[:cut] if c is not None})
        note = (
            f"proposed for the first {covered} of {len(names)} columns (at most {MAX_PROPOSED} expectations)"
        )
        kept = kept[:cut]
        kept[0] = {**kept[0], "meta": {**kept[0]["meta"], "note": note}}
    return kept
