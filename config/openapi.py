"""The error answers every operation can give, added to the OpenAPI schema in one place.

Views document their own successes and the refusals particular to them (a 409 on a duplicate, a
413 on a large upload). The refusals below come from the plumbing that every endpoint shares
(config/rest.py, config/throttles.py, config/middleware.py), so a generated client and a schema
fuzzer see them on every operation, with the API.md error shape:

- 400: a malformed query parameter, path value or body;
- 401: no or bad credentials; 403: credentials without the right to this object or change;
- 404: no such object, or a page past the last;
- 429: too many writes (writes only); 503: the database is unavailable (with Retry-After).
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every refusal (API.md): a summary and the messages per field.",
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["detail", "errors"],
}
SHARED: dict[str, str] = {
    "400": "Malformed parameters or body (the messages say which)",
    "401": "No or bad credentials",
    "403": "Not allowed for this user",
    "404": "No such object, or a page past the last",
    "503": "The database is unavailable or saturated; try again after Retry-After seconds",
}
WRITES: dict[str, str] = {"429": "Too many writes; try again after Retry-After seconds"}
METHODS = ("get", "put", "post", "delete", "patch")


def add_shared_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = dict(SHARED)
            if method != "get":
                codes.update(WRITES)
            if path.rstrip("/").endswith(("/schema", "/docs")):
                continue
            for code, description in codes.items():
                responses.setdefault(code, {"description": description, "content": body})
    return result
