"""Request body parsing for the whole API: JSON that PostgreSQL can store, or a 400 saying why.

JSON allows a NUL (``\\u0000``) and lone surrogates (``\\ud800``) inside strings, and any depth of
nesting; PostgreSQL's text and jsonb refuse the first two, and Python's parser overflows its stack
on the third. Each would otherwise surface as a 500 from deep inside a save.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser


def unstorable_text(data: Any) -> tuple[str, str] | None:
    """(field path, message) for the first text in a parsed JSON value that the database cannot
    store, e.g. ("tags[1]", "holds a NUL character ..."); None when all of it can be stored."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                problem = _bad_text(key)
                if problem:
                    return (path or "non_field_errors"), f"A key {problem}."
                stack.append((f"{path}.{key}" if path else str(key), item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            problem = _bad_text(value)
            if problem:
                return (path or "non_field_errors"), f"It {problem}."
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text"
    return None


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing too-deep nesting and text that cannot be stored: a 400 whose
    errors name the field, in the API.md shape, as any other invalid field."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        found = unstorable_text(data)
        if found:
            path, message = found
            raise ValidationError({path: [message]})
        return data
