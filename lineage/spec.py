"""What a valid OpenLineage event is: the 2-0-2 spec's JSON schema, and the errors we answer with.

openlineage-python ships attrs classes but not the JSON schema, so the core of
https://openlineage.io/spec/2-0-2/OpenLineage.json is restated here (same ``$defs``, same
``required`` lists, same eventType enum). Three deliberate leniencies, all as Marquez does:

* facets are not required to carry ``_producer`` / ``_schemaURL`` (hand-written events often omit
  them; an unknown facet is kept as is);
* a run event may leave out ``schemaURL`` (Marquez reads a body without one as a run event);
* an ``eventTime`` without a zone is read as UTC (``datetime.now().isoformat()`` is common in
  pipelines), but it must be ISO-8601 with a time part.

Errors name the field path as API.md asks, e.g. ``{"run.runId": ["This field is required."]}``.
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
from django.conf import settings
from django.core.exceptions import ValidationError

from lineage.models import EventKind

RUN_EVENT_TYPES = ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]
MAX_IDENT = 255  # the catalog's limit for namespaces and names
_CONTROL = re.compile("[\x00-\x1f\x7f]")

_FACETS = {"type": "object", "additionalProperties": {"type": "object"}}
_DATASET = {
    "type": "object",
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
    "required": ["namespace", "name"],
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
    "$defs": {
        "BaseEvent": {
            "type": "object",
            "properties": {
                "eventTime": {"type": "string"},
                "producer": {"type": "string"},
                "schemaURL": {"type": "string"},
            },
            # schemaURL is optional on run events, as Marquez takes them (older clients and some
            # integrations leave it out); dataset and job events need it to say what they are.
            "required": ["eventTime", "producer"],
        },
        "Run": {
            "type": "object",
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _FACETS},
            "required": ["runId"],
        },
        "Job": {
            "type": "object",
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
            "required": ["namespace", "name"],
        },
        "InputDataset": {
            "allOf": [
                {"$ref": "#/$defs/Dataset"},
                {"type": "object", "properties": {"inputFacets": _FACETS}},
            ]
        },
        "OutputDataset": {
            "allOf": [
                {"$ref": "#/$defs/Dataset"},
                {"type": "object", "properties": {"outputFacets": _FACETS}},
            ]
        },
        "Dataset": _DATASET,
        "RunEvent": {
            "allOf": [
                {"$ref": "#/$defs/BaseEvent"},
                {
                    "type": "object",
                    "properties": {
                        "eventType": {"type": "string", "enum": RUN_EVENT_TYPES},
                        "run": {"$ref": "#/$defs/Run"},
                        "job": {"$ref": "#/$defs/Job"},
                        "inputs": {"type": "array", "items": {"$ref": "#/$defs/InputDataset"}},
                        "outputs": {"type": "array", "items": {"$ref": "#/$defs/OutputDataset"}},
                    },
                    "required": ["run", "job"],
                },
            ]
        },
        "DatasetEvent": {
            "allOf": [
                {"$ref": "#/$defs/BaseEvent"},
                {
                    "type": "object",
                    "properties": {"dataset": {"$ref": "#/$defs/Dataset"}},
                    "required": ["dataset", "schemaURL"],
                },
            ]
        },
        "JobEvent": {
            "allOf": [
                {"$ref": "#/$defs/BaseEvent"},
                {
                    "type": "object",
                    "properties": {
                        "job": {"$ref": "#/$defs/Job"},
                        "inputs": {"type": "array", "items": {"$ref": "#/$defs/InputDataset"}},
                        "outputs": {"type": "array", "items": {"$ref": "#/$defs/OutputDataset"}},
                    },
                    "required": ["job", "schemaURL"],
                },
            ]
        },
    },
}

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


def _validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/$defs/{definition}", **SCHEMA}
    return jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)


_VALIDATORS = {
    EventKind.RUN: _validator("RunEvent"),
    EventKind.DATASET: _validator("DatasetEvent"),
    EventKind.JOB: _validator("JobEvent"),
}


def event_kind(body: dict) -> str:
    """Which of the three events a body is: by its schemaURL when it says, else by its shape."""
    url = body.get("schemaURL")
    if isinstance(url, str):
        for suffix, kind in (("DatasetEvent", EventKind.DATASET), ("JobEvent", EventKind.JOB)):
            if url.endswith(suffix):
                return kind
        if url.endswith("RunEvent"):
            return EventKind.RUN
    if "dataset" in body and "job" not in body and "run" not in body:
        return EventKind.DATASET
    if "job" in body and "run" not in body and "eventType" not in body:
        return EventKind.JOB
    return EventKind.RUN


def _path(error: jsonschema.ValidationError) -> str:
    parts = ""
    for p in error.absolute_path:
        parts += f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p))
    if error.validator == "required":
        # "'runId' is a required property": name the missing field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts = f"{parts}.{missing}" if parts else missing
    return parts or "non_field_errors"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return "This field is required."
    if error.validator == "enum":
        return f"Must be one of {', '.join(map(str, error.validator_value))} (got {error.instance!r})."
    if error.validator == "type":
        return f"Must be of type {error.validator_value} (got {type(error.instance).__name__})."
    if error.validator == "format" and error.validator_value == "uuid":
        return f"Must be a UUID (got {str(error.instance)[:80]!r})."
    return error.message[:300]


def parse_event_time(value: str) -> datetime:
    """ISO-8601 with a time part; a time without a zone is UTC."""
    if not isinstance(value, str) or "t" not in value.lower():
        raise ValueError("not an ISO-8601 date-time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)  # 9999-12-31T23:00-05:00 is past the largest date once in UTC
    except OverflowError:
        raise ValueError("out of range") from None
    return parsed


def _check_ident(errors: dict[str, list[str]], path: str, value: Any) -> None:
    if not isinstance(value, str):
        return  # reported by the schema
    if not value.strip():
        errors.setdefault(path, []).append("May not be blank.")
    elif len(value) > MAX_IDENT:
        errors.setdefault(path, []).append(f"At most {MAX_IDENT} characters (got {len(value)}).")
    elif _CONTROL.search(value):
        errors.setdefault(path, []).append("Control characters (newlines, tabs, NUL...) are not allowed.")


def _check_schema_facet(errors: dict[str, list[str]], path: str, item: dict) -> None:
    """A dataset's ``schema`` facet, as Marquez's SchemaDatasetFacet takes it: ``fields`` a list of
    objects, each with a string ``name`` (``type`` and ``description`` strings when given, nested
    ``fields`` likewise), and at most GOUVERNAIL_MAX_COLUMNS fields in all (a wider schema would
    become a wider dataset than the catalog takes)."""
    facets = item.get("facets")
    schema = facets.get("schema") if isinstance(facets, dict) else None
    if schema is None:
        return
    path = f"{path}.facets.schema.fields"
    limit = settings.GOUVERNAIL_MAX_COLUMNS
    stack: list[tuple[str, Any]] = [(path, schema.get("fields", []))]
    seen = 0
    while stack:
        where, fields = stack.pop()
        if not isinstance(fields, list):
            errors.setdefault(where, []).append("Must be a list of fields.")
            return
        seen += len(fields)
        if seen > limit:
            errors.setdefault(path, []).append(
                f"At most {limit} fields in a schema facet (GOUVERNAIL_MAX_COLUMNS); this one has more."
            )
            return
        for i, field in enumerate(fields):
            if not isinstance(field, dict) or not isinstance(field.get("name"), str) or not field["name"]:
                errors.setdefault(f"{where}[{i}].name", []).append("A field needs a name (a string).")
                return
            for key in ("type", "description"):
                if field.get(key) is not None and not isinstance(field[key], str):
                    errors.setdefault(f"{where}[{i}].{key}", []).append("Must be a string.")
                    return
            if "fields" in field:
                stack.append((f"{where}[{i}].fields", field["fields"]))


def _facets_ok(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())


def _named_ok(item: Any, extra: str = "") -> bool:
    """A Job or a Dataset (with its input/output facets): an object with string namespace and name."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("namespace"), str)
        and isinstance(item.get("name"), str)
        and ("facets" not in item or _facets_ok(item["facets"]))
        and (not extra or extra not in item or _facets_ok(item[extra]))
    )


def conforms(body: dict, kind: str) -> bool:
    """True only if the schema of ``kind`` accepts ``body`` (the same checks as SCHEMA, in plain
    Python: far faster than jsonschema, and valid events are the hot path of ingestion). False
    when anything is off: the caller then asks jsonschema, whose errors name the fields.
    A test compares the two on thousands of mutated events."""
    if not all(isinstance(body.get(k), str) for k in ("eventTime", "producer")):
        return False
    if not isinstance(body.get("schemaURL", ""), str) or (kind != EventKind.RUN and "schemaURL" not in body):
        return False
    if kind == EventKind.DATASET:
        return _named_ok(body.get("dataset"))
    if not _named_ok(body.get("job")):
        return False
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        items = body.get(side, [])
        if not isinstance(items, list) or not all(_named_ok(ds, extra) for ds in items):
            return False
    if kind == EventKind.JOB:
        return True
    if "eventType" in body and body["eventType"] not in RUN_EVENT_TYPES:
        return False
    run = body.get("run")
    if not isinstance(run, dict) or not isinstance(run.get("runId"), str):
        return False
    if "facets" in run and not _facets_ok(run["facets"]):
        return False
    try:
        uuid.UUID(run["runId"])
    except ValueError:
        return False
    return True


def validate_event(body: Any, *, max_datasets: int) -> str:
    """Check an event against the spec and our limits → its kind; raise ValidationError naming fields."""
    if not isinstance(body, dict):
        raise ValidationError({"non_field_errors": ["An OpenLineage event is a JSON object."]})
    kind = event_kind(body)
    errors: dict[str, list[str]] = {}
    if not conforms(body, kind):
        for error in sorted(_VALIDATORS[kind].iter_errors(body), key=lambda e: list(e.absolute_path)):
            errors.setdefault(_path(error), []).append(_message(error))
            if len(errors) >= 20:
                break
    if isinstance(body.get("eventTime"), str):
        try:
            parse_event_time(body["eventTime"])
        except ValueError:
            errors.setdefault("eventTime", []).append(
                f"Must be an ISO-8601 date-time, e.g. 2026-01-31T12:00:00Z (got {body['eventTime'][:60]!r})."
            )
    if errors:
        raise ValidationError(errors)
    # Identifiers must fit the catalog (names with spaces, unicode or :// are fine).
    if kind == EventKind.DATASET:
        _check_ident(errors, "dataset.namespace", body["dataset"]["namespace"])
        _check_ident(errors, "dataset.name", body["dataset"]["name"])
        _check_schema_facet(errors, "dataset", body["dataset"])
    else:
        _check_ident(errors, "job.namespace", body["job"]["namespace"])
        _check_ident(errors, "job.name", body["job"]["name"])
        for side in ("inputs", "outputs"):
            items = body.get(side) or []
            if len(items) > max_datasets:
                errors.setdefault(side, []).append(
                    f"At most {max_datasets} datasets per list (got {len(items)}); split the event "
                    "(LINEAGE_MAX_DATASETS_PER_EVENT)."
                )
                continue
            for i, ds in enumerate(items):
                _check_ident(errors, f"{side}[{i}].namespace", ds["namespace"])
                _check_ident(errors, f"{side}[{i}].name", ds["name"])
                _check_schema_facet(errors, f"{side}[{i}]", ds)
                if len(errors) >= 20:
                    break
    if errors:
        raise ValidationError(errors)
    return kind
